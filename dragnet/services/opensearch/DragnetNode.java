import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * Starts one OpenSearch node bound to loopback and blocks until killed.
 *
 * Arguments: base path, HTTP port, transport port; alone, the node is a single-node cluster.
 * With three more (node name, comma-separated seed transport addresses, comma-separated names of
 * the initial cluster-manager nodes) it joins or bootstraps a cluster of several nodes.
 */
public class DragnetNode {
    public static void main(String[] args) throws Exception {
        String basePath = args[0];
        int httpPort = Integer.parseInt(args[1]);
        int transportPort = Integer.parseInt(args[2]);
        boolean clustered = args.length >= 6;
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(65535);
        runner.onBuild((index, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", String.valueOf(httpPort));
            settings.put("transport.port", String.valueOf(transportPort));
            if (clustered) {
                settings.put("node.name", args[3]);
                settings.putList("discovery.seed_hosts", args[4].split(","));
                settings.putList("cluster.initial_cluster_manager_nodes", args[5].split(","));
            } else {
                settings.put("discovery.type", "single-node");
            }
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
