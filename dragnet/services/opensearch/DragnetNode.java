import org.codelibs.opensearch.runner.OpenSearchRunner;

/** Starts one OpenSearch node bound to loopback and blocks until killed. */
public class DragnetNode {
    public static void main(String[] args) throws Exception {
        String basePath = args[0];
        int httpPort = Integer.parseInt(args[1]);
        int transportPort = Integer.parseInt(args[2]);
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(65535);
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", String.valueOf(httpPort));
            settings.put("transport.port", String.valueOf(transportPort));
            settings.put("discovery.type", "single-node");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
            settings.put("action.auto_create_index", "true");
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try { runner.close(); } catch (Exception e) { }
        }));
        runner.build(new OpenSearchRunner.Configs().basePath(basePath).numOfNode(1)
            .baseHttpPort(httpPort - 1).clusterName("dragnet").printOnFailure());
        System.out.println("DRAGNET_OPENSEARCH_READY http://127.0.0.1:" + httpPort);
        Thread.currentThread().join();
    }
}
