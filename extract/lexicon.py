"""The vocabulary behind the rule-based extractors: drug names and street slang per substance
class (several languages), emoji codes, and the words that turn a mention into an offer.

Kept apart from the matching code so that an analyst can extend a list without reading a
regular expression.  Terms are lower-case; the matcher folds case, leetspeak and small
misspellings itself.  ``AMBIGUOUS`` terms have innocent everyday meanings (snow tyres, ice,
crystal jewellery, "molly" the name, coke the soda, speed the internet) and only count as
evidence next to an offer signal.
"""

from __future__ import annotations

SUBSTANCE_TERMS: dict[str, tuple[str, ...]] = {
    "opioids": (
        "fentanyl", "fentanil", "fentanilo", "fent", "fenty", "carfentanil", "nitazene", "isotonitazene",
        "protonitazene", "heroin", "heroína", "héroïne", "heroína", "smack", "china white", "black tar",
        "oxycodone", "oxycontin", "oxy", "oxys", "roxy", "roxies", "roxicodone", "percocet", "percs", "perc",
        "m30", "m30s", "blues", "hydrocodone", "vicodin", "norco", "morphine", "morphin", "morfina", "codeine",
        "codein", "codeína", "lean", "purple drank", "tramadol", "methadone", "methadon", "metadona",
        "suboxone", "buprenorphine", "subutex", "dilaudid", "hydromorphone", "opium", "opio", "tapentadol",
        "oxymorphone", "opana", "opiates", "opioids", "opiods",
        "героин", "метадон", "опиум", "фентанил", "трамадол",
    ),
    "stimulants": (
        "cocaine", "cocain", "cocaína", "cocaïne", "kokain", "kokaine", "coke", "coca", "blow", "yayo", "yeyo",
        "perico", "farlopa", "coco", "koks", "charlie", "crack", "crack cocaine", "rock", "rocks",
        "meth", "methamphetamine", "crystal meth", "crystal", "ice", "tina", "shards", "shard", "glass",
        "amphetamine", "amphetamin", "amfetamina", "amphétamine", "amph", "speed", "pep", "adderall", "addy",
        "addies", "vyvanse", "ritalin", "methylphenidate", "dexedrine", "mdma", "ecstasy", "extasis", "éxtasis",
        "ecstasy pills", "xtc", "molly", "mandy", "mda", "e pills", "pressed pills", "mephedrone", "4-mmc",
        "3-mmc", "3mmc", "4mmc", "mcat", "meow meow", "a-pvp", "alpha-pvp", "flakka", "cathinone", "bath salts",
        "pink cocaine", "tusi", "tucibi", "teile", "keks", "pillen", "snow",
        "кокаин", "мефедрон", "меф", "амфетамин", "фен", "метамфетамин", "экстази", "мдма", "соль", "скорость",
        "первитин",
    ),
    "cannabis": (
        "weed", "cannabis", "canabis", "marijuana", "marihuana", "mariguana", "ganja", "kush", "og kush",
        "hash", "hashish", "haschisch", "haschich", "hasch", "bud", "buds", "thc", "dabs", "wax", "shatter",
        "rosin", "live resin", "edibles", "pre-roll", "pre-rolls", "prerolls", "sativa", "indica", "gelato",
        "zkittlez", "runtz", "dank", "loud", "za", "gas", "mota", "porro", "maria", "maría", "hierba",
        "chocolate hash", "maconha", "erva", "beuh", "weedz", "zaza", "gras", "dope",
        "thc carts", "carts", "spice", "k2", "synthetic cannabinoids", "jwh",
        "шишки", "гашиш", "бошки", "марихуана", "травка", "план",
    ),
    "psychedelics": (
        "lsd", "acid", "lsd-25", "blotter", "blotters", "lucy", "tabs", "1p-lsd", "1cp-lsd", "al-lad",
        "mushrooms", "mushroom", "shrooms", "shroom", "magic mushrooms", "psilocybin", "psilocybe",
        "golden teacher", "penis envy", "cubensis", "dmt", "5-meo-dmt", "2c-b", "2cb", "2c-i", "2c-e",
        "mescaline", "peyote", "san pedro", "ayahuasca", "nbome", "25i-nbome", "25i", "doc", "dob", "doi",
        "hongos", "setas", "pilze", "zauberpilze", "champignons magiques", "cogumelos", "truffles",
        "лсд", "марки", "грибы", "псилоцибин",
    ),
    "dissociatives": (
        "ketamine", "ketamin", "ketamina", "kétamine", "keta", "ket", "special k", "k-hole", "kitkat",
        "mxe", "methoxetamine", "pcp", "angel dust", "dck", "2-fdck", "o-pce", "3-meo-pcp", "dxm",
        "кетамин",
    ),
    "benzodiazepines": (
        "xanax", "xanex", "xannax", "alprazolam", "xans", "xannies", "zannies", "zanny", "bars", "xanax bars",
        "valium", "diazepam", "klonopin", "clonazepam", "rivotril", "ativan", "lorazepam", "etizolam",
        "flualprazolam", "bromazolam", "clonazolam", "flubromazolam", "temazepam", "rohypnol",
        "flunitrazepam", "roofies", "benzo", "benzos", "benzodiazepines", "halcion", "triazolam",
        "phenazepam", "феназепам", "lexotan", "bromazepam", "xanor", "tafil", "ксанакс",
    ),
    "other_rx": (
        "viagra", "cialis", "kamagra", "sildenafil", "tadalafil", "steroids", "steroid", "anavar", "oxandrolone",
        "dianabol", "testosterone", "trenbolone", "tren", "winstrol", "clenbuterol", "hgh", "sustanon",
        "deca", "nandrolone", "modafinil", "armodafinil", "provigil", "ghb", "gbl", "pregabalin", "lyrica",
        "zolpidem", "ambien", "zopiclone", "phentermine", "carisoprodol", "soma", "research chemicals",
        "research chemical", "promethazine", "seroquel", "quetiapine", "gabapentin",
    ),
}

# Terms with a common innocent meaning: evidence only beside an offer, price, quantity or contact.
AMBIGUOUS: frozenset[str] = frozenset({
    "héroïne", "coke", "coca", "blow", "coco", "charlie", "rock", "rocks", "crystal", "ice", "tina", "glass", "shards",
    "shard", "speed", "pep", "molly", "mandy", "snow", "lean", "blues", "perc", "bud", "buds", "wax", "loud",
    "za", "gas", "dank", "gelato", "maria", "maría", "hierba", "erva", "gras", "dope", "carts", "spice",
    "acid", "tabs", "lucy", "doc", "dob", "doi", "setas", "truffles", "ket", "keta", "kitkat", "bars",
    "soma", "deca", "tren", "rc", "hash", "smack", "fent", "oxy", "fenty", "teile", "keks", "pillen",
    "план", "соль", "скорость", "фен", "марки", "грибы", "mushroom", "mushrooms", "opio", "crack",
    "indica", "sativa", "k2", "mda", "penis envy", "cubensis", "benzo", "benzos", "chocolate hash",
})

# Emoji codes used in drug-sale posts, with the substance class they usually stand for (None: a
# sale signal without a specific substance).
EMOJI_CODES: dict[str, tuple[str | None, str]] = {
    "❄": ("stimulants", "snowflake = cocaine"),
    "⛄": ("stimulants", "snowman = cocaine"),
    "☃": ("stimulants", "snowman = cocaine"),
    "🎱": ("stimulants", "8-ball = an eighth of cocaine or meth"),
    "💎": ("stimulants", "gem = crystal meth"),
    "🧊": ("stimulants", "ice cube = crystal meth"),
    "🍬": ("stimulants", "candy = MDMA/ecstasy"),
    "🍭": ("stimulants", "lollipop = MDMA/ecstasy"),
    "🔋": ("stimulants", "battery = stimulants"),
    "🍁": ("cannabis", "leaf = cannabis"),
    "🌿": ("cannabis", "herb = cannabis"),
    "🍃": ("cannabis", "leaves = cannabis"),
    "🥦": ("cannabis", "broccoli = cannabis buds"),
    "🌲": ("cannabis", "tree = cannabis"),
    "🌳": ("cannabis", "tree = cannabis"),
    "⛽": ("cannabis", "fuel = strong cannabis (gas)"),
    "🍯": ("cannabis", "honey = cannabis concentrate"),
    "🍫": ("cannabis", "chocolate = hashish"),
    "🍄": ("psychedelics", "mushroom = psilocybin"),
    "🌈": ("psychedelics", "rainbow = LSD/psychedelics"),
    "🦄": ("psychedelics", "unicorn = LSD"),
    "🌵": ("psychedelics", "cactus = mescaline"),
    "🐴": ("dissociatives", "horse = ketamine"),
    "🐎": ("dissociatives", "horse = ketamine"),
    "🦄‍": ("psychedelics", "unicorn = LSD"),
    "🐉": ("opioids", "dragon = heroin (chasing the dragon)"),
    "🍇": ("opioids", "grapes = lean (codeine syrup)"),
    "🥤": ("opioids", "cup = lean (codeine syrup)"),
    "💤": ("benzodiazepines", "sleep = benzodiazepines"),
    "💊": (None, "pill = pills for sale"),
    "💉": ("opioids", "syringe = injectable drugs"),
    "🔌": (None, "plug = dealer"),
    "📦": (None, "package = shipping"),
    "🚚": (None, "delivery truck = delivery"),
    "✈": (None, "plane = shipping"),
    "💰": (None, "money bag = price"),
    "💵": (None, "banknote = price"),
    "💸": (None, "money = price"),
    "📲": (None, "phone = contact me"),
    "📩": (None, "envelope = message me"),
    "📥": (None, "inbox = message me"),
    "💨": (None, "smoke = drugs to smoke"),
}

# Phrases that turn a mention into an offer (several languages).  Matched on word boundaries.
OFFER_TERMS: tuple[str, ...] = (
    "for sale", "selling", "i sell", "we sell", "sell", "buy now", "in stock", "restock", "restocked",
    "available now", "menu", "dm for menu", "dm for prices", "hmu", "hit me up", "hit my line", "tap in",
    "plug", "connect", "best prices", "best price", "cheap", "bulk", "wholesale", "samples", "sample",
    "legit vendor", "trusted vendor", "vendor", "order now", "place your order", "orders open", "drop",
    "link in bio", "delivery", "same day", "open for orders", "prices", "price list", "taking orders",
    "vendo", "vendemos", "se vende", "a la venta", "verkaufe", "verkauf", "zu verkaufen", "bestellen",
    "je vends", "vends", "à vendre", "a vendre", "vendre", "dispo", "disponible", "encomenda", "encomendas",
    "продаю", "продажа", "в наличии", "закладки", "закладка", "клад", "опт", "заказ", "пишите",
)

SHIPPING_TERMS: tuple[str, ...] = (
    "stealth", "stealth shipping", "ships worldwide", "worldwide shipping", "ww shipping", "shipping",
    "ships from", "ship to", "free shipping", "tracked", "tracking", "next day", "ndd", "discreet",
    "discrete packaging", "vacuum sealed", "vac sealed", "mylar", "mbb", "envío", "envio", "envíos",
    "versand", "diskret", "livraison", "discret", "entrega", "доставка", "отправка", "shipped",
    "domestic", "overnight", "priority mail",
)

ESCROW_TERMS: tuple[str, ...] = (
    "escrow", "fe only", "finalize early", "finalise early", "no fe", "multisig", "multi-sig", "btc only",
    "xmr only", "crypto only", "monero only", "pay in btc", "pay with btc", "bitcoin accepted",
    "paypal f&f", "cashapp", "cash app", "zelle", "western union", "gift cards accepted",
)

# Words naming a messenger, used both for handles ("wickr: name") and as bare cues ("DM", "tele").
CONTACT_CUES: tuple[str, ...] = (
    "dm", "dms", "dm me", "pm", "pm me", "inbox me", "text me", "message me", "hmu", "tele", "telegram",
    "tg", "snap", "snapchat", "wickr", "wickr me", "signal", "whatsapp", "whats app", "wa", "session",
    "threema", "kik", "wire", "element", "matrix", "jabber", "xmpp", "email",
    "escríbeme", "escribeme", "md", "schreib mir", "écris-moi", "ecris moi", "chama no", "chama",
    "пиши", "пишите", "телега", "телеграм",
)
