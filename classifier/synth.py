"""A documented generator of social-media posts and hard negatives.

Why: no labelled social posts exist in the archives we could reach (see the data README).
Listing titles look nothing like "❄️ fresh drop, tele @x", so the model also learns from
generated posts.  Everything this module emits is *generated*, and the model card says so.

What it generates (six languages: en, es, de, fr, pt, ru; English about half):
- offers (label 1): short social posts (slang, emoji codes, misspellings, leetspeak, prices,
  quantities, contact handles, "DM / tele / snap / wickr") and long vendor listings (product
  text, shipping and refund policy, escrow, PGP), each with its substance classes;
- hard negatives (label 0): drug news, harm reduction, recovery stories, buyers asking where to
  buy, prescriptions talked about, legitimate pharmacy adverts, innocent slang (snow tyres, ice,
  crystal jewellery, "Molly" the name, coke the soda, speed the internet, grass, acid, plugs,
  bars...), and non-drug vendor-style listings (cards, fake documents, accounts, phones) with
  prices, contacts and escrow - the same style as a drug offer, other goods.

Held-out evaluation: every template has an index; templates whose index is ``≡ 3 (mod 4)`` are
used only for test posts and those ``≡ 1 (mod 8)`` only for validation posts
(:func:`template_split`), so the threshold is chosen, and the model judged, on sentence shapes it
never trained on (the words still come from the shared vocabularies below).
Deterministic: the same seed gives the same posts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from dragnet.documents import SUBSTANCES

LANGS = ("en", "es", "de", "fr", "pt", "ru")
LANG_WEIGHTS = (0.5, 0.1, 0.1, 0.1, 0.1, 0.1)


@dataclass
class Post:
    text: str
    label: int
    substances: list[str] = field(default_factory=list)
    lang: str = "en"
    kind: str = (
        "offer"  # offer, listing, news, harm_reduction, recovery, buyer, rx_talk, pharmacy, innocent, vendor_other
    )


# What is offered: (substance class, names by language). Names include street slang.
PRODUCTS: dict[str, dict[str, list[str]]] = {
    "opioids": {
        "en": [
            "fentanyl",
            "fent",
            "heroin",
            "H",
            "oxycodone",
            "oxy 80s",
            "roxies",
            "perc 30s",
            "M30s",
            "blues",
            "dope",
            "black tar",
            "china white",
            "lean",
            "codeine syrup",
            "dilaudid",
            "oxycontin",
            "methadone",
            "tramadol 225mg",
            "subs",
        ],
        "es": ["heroína", "fentanilo", "oxicodona", "codeína", "metadona"],
        "de": ["Heroin", "Fentanyl", "Oxycodon", "Codein", "Methadon", "H"],
        "fr": ["héro", "fentanyl", "oxycodone", "codéine", "méthadone", "brown"],
        "pt": ["heroína", "fentanil", "oxicodona", "codeína", "metadona"],
        "ru": ["героин", "метадон", "фентанил", "оксикодон", "хмурый"],
    },
    "stimulants": {
        "en": [
            "coke",
            "cocaine",
            "snow",
            "yayo",
            "blow",
            "crack",
            "meth",
            "crystal",
            "ice",
            "tina",
            "speed",
            "amphetamine",
            "adderall",
            "addys",
            "MDMA",
            "molly",
            "mandy",
            "ecstasy pills",
            "xtc",
            "pressed pills",
            "mephedrone",
            "4mmc",
            "pink coke",
            "8ball",
        ],
        "es": ["coca", "cocaína", "perico", "farlopa", "cristal", "anfetas", "éxtasis", "MDMA", "tusi"],
        "de": ["Koks", "Kokain", "Speed", "Pep", "Crystal", "Teile", "MDMA", "Amphe", "Ecstasy"],
        "fr": ["coke", "cocaïne", "CC", "C", "speed", "MD", "ecsta", "cristal", "taz"],
        "pt": ["cocaína", "pó", "farinha", "bala", "MD", "cristal", "anfetamina"],
        "ru": ["кокаин", "мефедрон", "меф", "амфетамин", "фен", "экстази", "МДМА", "первитин", "соль", "кристаллы"],
    },
    "cannabis": {
        "en": [
            "weed",
            "bud",
            "kush",
            "OG kush",
            "gelato",
            "runtz",
            "za",
            "loud",
            "gas",
            "dabs",
            "wax",
            "shatter",
            "carts",
            "THC carts",
            "edibles",
            "hash",
            "pre-rolls",
            "zaza",
            "flower",
            "cannabis",
            "ganja",
            "moon rocks",
            "thc gummies",
        ],
        "es": ["hierba", "mota", "maría", "hachís", "marihuana", "cogollos", "chocolate", "porros"],
        "de": ["Gras", "Weed", "Haschisch", "Hasch", "Dope", "Ott", "Blüten", "Cannabis"],
        "fr": ["beuh", "weed", "shit", "résine", "hash", "beuh amnesia", "pollen", "cannabis"],
        "pt": ["maconha", "erva", "beck", "haxixe", "skunk", "prensado", "flor"],
        "ru": ["шишки", "бошки", "гашиш", "план", "марихуана", "травка", "ганджа"],
    },
    "psychedelics": {
        "en": [
            "LSD",
            "acid",
            "tabs",
            "blotters",
            "shrooms",
            "mushrooms",
            "golden teacher",
            "penis envy",
            "psilocybin",
            "DMT",
            "5-MeO-DMT",
            "2C-B",
            "mescaline",
            "1P-LSD",
            "lucy",
            "magic truffles",
            "shroom chocolate",
        ],
        "es": ["LSD", "ácido", "cartones", "hongos", "setas mágicas", "DMT", "2C-B", "tusi rosa"],
        "de": ["LSD", "Pappen", "Trips", "Pilze", "Zauberpilze", "Psilos", "DMT", "2C-B"],
        "fr": ["LSD", "buvards", "acide", "champis", "champignons magiques", "truffes", "DMT", "2C-B"],
        "pt": ["LSD", "doce", "cogumelos", "ácido", "DMT", "2C-B", "selos"],
        "ru": ["ЛСД", "марки", "грибы", "псилоцибин", "ДМТ", "кислота"],
    },
    "dissociatives": {
        "en": ["ketamine", "ket", "K", "special K", "keta", "MXE", "PCP", "2-FDCK", "ket crystals"],
        "es": ["ketamina", "keta", "K"],
        "de": ["Ketamin", "Keta", "K"],
        "fr": ["kétamine", "kéta", "K", "ké"],
        "pt": ["cetamina", "ketamina", "keta", "K"],
        "ru": ["кетамин", "кета"],
    },
    "benzodiazepines": {
        "en": [
            "xanax",
            "xans",
            "xanax bars",
            "bars",
            "zannies",
            "valium",
            "diazepam",
            "klonopin",
            "clonazepam",
            "etizolam",
            "alprazolam",
            "roche valium",
            "temazepam",
            "bromazolam",
            "ativan",
        ],
        "es": ["xanax", "rivotril", "diazepam", "alprazolam", "clonazepam", "roches"],
        "de": ["Xanax", "Valium", "Diazepam", "Tavor", "Rivotril", "Benzos"],
        "fr": ["xanax", "valium", "rivotril", "lexomil", "benzos", "xanax 2mg"],
        "pt": ["xanax", "rivotril", "diazepam", "clonazepam", "alprazolam"],
        "ru": ["ксанакс", "феназепам", "диазепам", "клоназепам"],
    },
    "other_rx": {
        "en": [
            "steroids",
            "test e",
            "tren",
            "anavar",
            "dianabol",
            "HGH",
            "clenbuterol",
            "modafinil",
            "GHB",
            "GBL",
            "pregabalin",
            "lyrica",
            "zolpidem",
            "ambien",
            "viagra no script",
            "sustanon",
            "winstrol",
            "phentermine",
        ],
        "es": ["esteroides", "GHB", "pregabalina", "modafinilo", "trembolona"],
        "de": ["Steroide", "GHB", "GBL", "Pregabalin", "Modafinil", "Testo"],
        "fr": ["stéroïdes", "GHB", "GBL", "prégabaline", "modafinil"],
        "pt": ["esteroides", "bomba", "GHB", "pregabalina", "modafinil"],
        "ru": ["стероиды", "GHB", "прегабалин", "лирика", "модафинил"],
    },
}
# Two-substance combos appear together in real menus.
EMOJI_FOR = {
    "opioids": ["💊", "🐉", "💉", "🍇"],
    "stimulants": ["❄️", "⛄", "💎", "🧊", "🍬", "🎱"],
    "cannabis": ["🍁", "🌿", "🍃", "🥦", "⛽", "🔥"],
    "psychedelics": ["🍄", "🌈", "🦄", "🌵"],
    "dissociatives": ["🐴", "🐎", "🌀"],
    "benzodiazepines": ["💊", "💤", "😴"],
    "other_rx": ["💪", "💊", "💉"],
}
SALE_EMOJI = ["🔌", "📦", "💰", "💸", "📲", "🚚", "✈️", "🔥", "✅", "💯", "🤑", "📩"]

GOODS_QTY = [
    "1 oz",
    "10 pcs",
    "a pack of 5",
    "100 units",
    "x10",
    "a bundle of 3",
    "2 sets",
    "50 pieces",
    "a box of 20",
    "5 accounts",
    "1 lot",
    "a dozen",
]
QTY = [
    "1g",
    "3.5g",
    "7g",
    "14g",
    "28g",
    "an eighth",
    "a QP",
    "half oz",
    "1 oz",
    "1 kilo",
    "10 pills",
    "100 pills",
    "x50",
    "20 tabs",
    "5 blotters",
    "2g",
    "0.5g",
    "100x",
    "10 caps",
    "1 zip",
    "5 grams",
    "250mg",
]
QTY_L = {
    "es": ["1 gramo", "5 gramos", "10 pastillas", "1 kilo", "3,5g"],
    "de": ["1g", "5 Gramm", "10 Stück", "1 Kilo", "3,5g"],
    "fr": ["1g", "5 grammes", "10 cachets", "1 kilo", "3,5g"],
    "pt": ["1g", "5 gramas", "10 comprimidos", "1 kilo"],
    "ru": ["1г", "2г", "5 грамм", "10 шт", "0.5г"],
}
PRICE = [
    "$20",
    "$40",
    "$60",
    "$80",
    "$100",
    "$150",
    "$250",
    "$1200",
    "£40",
    "£60",
    "€50",
    "€80",
    "60€",
    "0.002 BTC",
    "0.5 XMR",
    "40 bucks",
    "$25 each",
    "80 USD",
]
PRICE_L = {
    "es": ["50€", "60 euros", "30€ el gramo", "$40 USD"],
    "de": ["50€", "80 Euro", "10€/g", "60 EUR"],
    "fr": ["50€", "60 euros", "40€ le g", "20€"],
    "pt": ["R$ 50", "R$ 120", "50 reais", "R$80 a grama"],
    "ru": ["3000 руб", "1500₽", "5000 рублей", "2500р"],
}
HANDLE_NAMES = [
    "snowman",
    "plugdaddy",
    "greenhouse",
    "frostbyte",
    "candyshop",
    "trippyman",
    "dr_feelgood",
    "kushking",
    "icequeen",
    "the_chemist",
    "pillpal",
    "mr_white",
    "westside",
    "nightowl",
    "luckyplug",
    "cloud9",
    "zazaplug",
    "alpine",
    "madrid_conecta",
    "berlin_lieferung",
    "paris_plug",
    "sp_entregas",
    "msk_shop",
    "spb_klad",
]
CONTACT_FMT = [
    "wickr: {h}",
    "wickr me {h}",
    "tele @{h}",
    "telegram: @{h}",
    "t.me/{h}",
    "snap: {h}",
    "sc @{h}",
    "signal +1 555 {n}",
    "whatsapp +44 7{n}",
    "DM @{h}",
    "session id 05{hex}",
    "threema {tid}",
    "kik: {h}",
    "{h}@protonmail.com",
    "tg @{h}",
    "📲 @{h}",
    "hit my line {h}",
    "insta @{h}",
]
CUE = [
    "DM",
    "DM for menu",
    "hmu",
    "dm me",
    "inbox",
    "tele",
    "snap me",
    "wickr only",
    "link in bio",
    "slide in my dms",
    "message me",
    "pm for prices",
    "text me",
]
SHIP = [
    "stealth shipping",
    "ships worldwide",
    "discreet packaging",
    "next day delivery",
    "same day drop",
    "vacuum sealed",
    "tracked shipping",
    "ww shipping",
    "delivery in 1hr",
    "local meetups",
    "UK to UK NDD",
    "US domestic only",
    "EU to EU",
]
ESCROW = [
    "escrow accepted",
    "FE for trusted buyers",
    "no FE",
    "BTC/XMR only",
    "cashapp or btc",
    "crypto only",
    "pay on delivery",
    "reship or refund policy",
]
TAGS = [
    "#420",
    "#plug",
    "#weedporn",
    "#stonernation",
    "#rave",
    "#partysupplies",
    "#mdma",
    "#xans",
    "#cokeisit",
    "#ketamine",
    "#dmt",
    "#trippy",
    "#highlife",
    "#fyp",
]

# Offer templates per language.  Slots: {d} product, {q} quantity, {p} price, {c} contact,
# {e} substance emoji, {s} sale emoji, {ship}, {esc}, {cue}, {tag}.
OFFER_T: dict[str, list[str]] = {
    "en": [
        "{e}{e} {d} {q} {p} {cue} {s}",
        "fresh {d} just landed {e} {q} for {p}. {ship}. {c}",
        "got that {d} {e} {cue} {c}",
        "{s} plug is back {s} {d}, {d2} and more. menu on {c}",
        "who need {d}?? {q} {p} {cue}",
        "selling {d} {q} {p} each, {esc}, {c}",
        "{d} {e} {d2} {e2} available now {ship} {c} {tag}",
        "restock!! {d} {q} = {p} | {ship} | {c}",
        "tap in for {d} {e} best prices in town {c}",
        "{e} {e} {e} {cue} {s}",
        "quality {d} {q} {p} {esc} {ship} hmu {c}",
        "{d} plug {s} {city} area, {ship}, {cue}",
        "new batch of {d} {e} lab tested, {q} {p}, {c}",
        "pm me for {d}. {q} {p}. serious buyers only {c}",
        "open for orders: {d}, {d2}. {ship}. {esc}. {c}",
        "{d} for sale {q} {p} {c}",
        "anyone need {d} {e}? i got u {cue} {c}",
        "{s}{s} {d} {p}/{q} {ship} {tag} {tag2}",
        "legit vendor, {d} & {d2} in stock, {c} {esc}",
        "Top shelf {d} {e} | {q} {p} | {ship} | order via {c}",
        "bulk {d} available, wholesale prices, {c}",
        "{d} {q} {p} dm or {c}",
        "drop today {e} {d} {cue}",
        "I sell {d} and {d2}, {ship}, text {c}",
    ],
    "es": [
        "Vendo {d} {e} {q} {p} {c}",
        "Tengo {d} de calidad, envío discreto {ship}, escríbeme {c}",
        "{d} disponible {q} a {p}, entrega en {city}, {c}",
        "se vende {d} {e} {p} el gramo, pedidos por {c}",
        "{e} {d} y {d2} a domicilio, escribe al {c}",
        "hay {d} 🔥 {q} {p} mándame dm",
        "venta de {d} {q}, envíos a toda España {c}",
        "{d} {e} buena calidad, precio {p}, {c}",
    ],
    "de": [
        "Verkaufe {d} {e} {q} für {p} {c}",
        "{d} wieder da {e}, diskreter Versand, {c}",
        "Biete {d} und {d2}, {q} {p}, schreib mir {c}",
        "{d} zu verkaufen, Lieferung in {city}, {c}",
        "Top {d} {e} {q} nur {p}, Versand aus DE, {c}",
        "hab {d} da {e} meld dich {c}",
        "{d} {q} {p} diskret, Bestellung über {c}",
        "Lieferservice {d} {e} {city}, {c}",
    ],
    "fr": [
        "Je vends {d} {e} {q} à {p}, {c}",
        "{d} dispo {e} livraison {city}, contact {c}",
        "vente {d} et {d2}, {q} {p}, écris-moi sur {c}",
        "{d} de qualité {e} {p} le g, {c}",
        "plan {d} {e} sur {city}, livraison rapide {c}",
        "{d} {q} à vendre {p}, envoi discret {c}",
        "dispo {d} {e} {d2} snap {h}",
        "{d} frais {e} {p}, commande sur {c}",
    ],
    "pt": [
        "Vendo {d} {e} {q} por {p}, chama no {c}",
        "{d} disponível, entrega em {city}, {c}",
        "tem {d} e {d2} {e}, {p}, manda msg {c}",
        "{d} de qualidade {q} {p} envio discreto {c}",
        "vendas de {d} {e} chama no zap {c}",
        "{d} {e} {p} a grama, encomendas {c}",
        "promoção {d} {q} {p} {c}",
        "{d} top {e} entrega rápida {c}",
    ],
    "ru": [
        "Продаю {d} {e} {q} {p}, пиши {c}",
        "{d} в наличии {e}, закладки по {city}, {c}",
        "{d} и {d2}, опт и розница, {c}",
        "Качественный {d} {q} {p}, доставка, телега {c}",
        "{d} {e} клад {city}, заказ через {c}",
        "магазин {d} {e} {p} за {q}, {c}",
        "есть {d} {e}, пишите в телегу {c}",
        "{d} {q} {p} моментальные клады {c}",
    ],
}

LISTING_PARTS = {
    "head": [
        "{D} {Q} - {P} - {SHIP_U}",
        "*** {D} *** {Q} *** TOP QUALITY ***",
        "[{QTY}] {D} | {P} | FREE SHIPPING",
        "{Q} {D} ({pur}% pure) - {SHIP_U}",
        "{D} {Q} [{COUNTRY} to {COUNTRY2}]",
    ],
    "body": [
        "Welcome to our shop. We offer {d} of the highest quality, tested by independent labs at {pur}% purity.",
        "This listing is for {q} of {d}. Each order is vacuum sealed twice and shipped in a professional stealth "
        "package.",
        "We ship from {COUNTRY} every weekday. Orders placed before 2pm ship the same day. Tracking is provided on "
        "request.",
        "Reships: we offer one free reship if your package does not arrive within 14 days. Seizures outside our "
        "control are not refunded twice.",
        "Please encrypt your address with our PGP key. Unencrypted addresses will be deleted and the order cancelled.",
        "Finalize early is required for new buyers. Returning customers may use escrow.",
        "Our {d} comes straight from the source, no cut, no filler. Customers report excellent effects.",
        "Bulk discounts available: message us for prices on larger quantities of {d}.",
        "Do not leave feedback mentioning the stealth method. Feedback is appreciated after you receive the package.",
        "Dosage information is included in the package. Start low and go slow.",
        "Contact us on {c} for custom orders. We answer within 12 hours.",
        "We have been vending since 2015 on several markets with over 3000 sales and 4.9 stars.",
        "Price: {p} for {q}. Shipping {p2}. Express shipping available.",
    ],
}
CITIES = [
    "London",
    "Manchester",
    "NYC",
    "LA",
    "Toronto",
    "Berlin",
    "Hamburg",
    "Paris",
    "Lyon",
    "Madrid",
    "Barcelona",
    "Lisboa",
    "São Paulo",
    "Rio",
    "Москва",
    "СПб",
    "Amsterdam",
    "Dublin",
    "Sydney",
    "Miami",
]
COUNTRIES = ["UK", "USA", "Germany", "Netherlands", "Canada", "Spain", "France", "EU", "Australia", "Poland"]

# ---------------------------------------------------------------------------------------------
# Hard negatives
# ---------------------------------------------------------------------------------------------
NEG_T: dict[str, dict[str, list[str]]] = {
    "news": {
        "en": [
            "Police seized {n} kg of {d} at the port of {city} on Tuesday, officials said.",
            "Overdose deaths linked to {d} rose by {n}% last year, according to a new report.",
            "Three men were sentenced for selling {d} through a dark web market.",
            "Authorities shut down a marketplace that sold {d} and stolen data; {n} arrests were made.",
            "Study finds {d} use among teenagers declined since 2019.",
            "Customs officers found {d} hidden in a shipment of bananas worth an estimated ${n} million.",
            "BREAKING: {city} police dismantle {d} trafficking ring, {n} suspects in custody",
            "The government plans to reclassify {d} after a spike in hospital admissions.",
        ],
        "es": [
            "La policía incautó {n} kilos de {d} en el puerto de {city}.",
            "Detenidos {n} hombres por vender {d} en internet.",
            "Aumentan las muertes por sobredosis de {d}, según un informe.",
        ],
        "de": [
            "Die Polizei hat in {city} {n} Kilo {d} beschlagnahmt.",
            "Drei Männer wegen Handel mit {d} verurteilt.",
            "Studie: Konsum von {d} unter Jugendlichen gesunken.",
        ],
        "fr": [
            "La police a saisi {n} kilos de {d} au port de {city}.",
            "Trois hommes condamnés pour trafic de {d}.",
            "Les overdoses liées au {d} en hausse selon un rapport.",
        ],
        "pt": [
            "A polícia apreendeu {n} quilos de {d} no porto de {city}.",
            "Presos {n} suspeitos de vender {d} pela internet.",
            "Mortes por overdose de {d} aumentaram, diz relatório.",
        ],
        "ru": [
            "Полиция изъяла {n} кг {d} в порту {city}.",
            "Задержаны {n} человек за продажу {d} через интернет.",
            "Число передозировок {d} выросло, сообщает доклад.",
        ],
    },
    "harm_reduction": {
        "en": [
            "Always test your {d} with a reagent kit before taking it. Fentanyl test strips are free at our center.",
            "Never use {d} alone. Carry naloxone and call emergency services if someone stops breathing.",
            "Harm reduction tip: if you take {d}, start with a small dose and wait before redosing.",
            "Free drug checking this weekend at the festival: bring a small sample of your {d}.",
            "Mixing {d} with alcohol is dangerous. Stay hydrated and look after your friends.",
            "Our outreach team hands out clean needles and naloxone kits, no questions asked.",
        ],
        "es": [
            "Nunca consumas {d} solo. Analiza tus sustancias antes.",
            "Consejo de reducción de riesgos: empieza con poca cantidad de {d}.",
        ],
        "de": [
            "Teste dein {d} immer vorher. Drug-Checking ist kostenlos.",
            "Niemals {d} mit Alkohol mischen. Passt aufeinander auf.",
        ],
        "fr": [
            "Ne consommez jamais de {d} seul. Testez vos produits.",
            "Réduction des risques: commencez par une petite dose de {d}.",
        ],
        "pt": [
            "Nunca use {d} sozinho. Teste suas substâncias.",
            "Redução de danos: comece com pouca quantidade de {d}.",
        ],
        "ru": [
            "Никогда не употребляйте {d} в одиночку. Проверяйте вещества.",
            "Снижение вреда: начинайте с малой дозы {d}.",
        ],
    },
    "recovery": {
        "en": [
            "{n} days clean from {d} today. One day at a time 🙏",
            "I lost five years to {d}. If you are struggling, NA meetings saved my life.",
            "Proud of my brother, one year free of {d} ❤️",
            "Withdrawal from {d} was the hardest thing I ever did. Reach out if you need support.",
            "Recovery group tonight at 7pm, everyone welcome, no matter what your drug was.",
        ],
        "es": ["Hoy cumplo {n} días limpio de {d}. Un día a la vez.", "Dejé la {d} hace un año, se puede salir."],
        "de": ["Heute {n} Tage clean von {d}.", "Ein Jahr ohne {d}, ich bin stolz auf mich."],
        "fr": ["{n} jours sans {d} aujourd'hui.", "Sortir de la {d}, c'est possible. Courage à tous."],
        "pt": ["Hoje faço {n} dias limpo de {d}.", "Um ano sem {d}, é possível sair."],
        "ru": ["Сегодня {n} дней без {d}.", "Год без {d}, выход есть."],
    },
    "buyer": {
        "en": [
            "where can i get {d} in {city}?? anyone got a plug",
            "looking for {d}, who has it? dm me",
            "need {d} asap, anyone?? will pay {p}",
            "does anyone know a legit vendor for {d}? got scammed twice",
            "wtb {d} {q}, {city} area, dm",
            "how much is {q} of {d} these days?",
            "any plugs in {city}? tryna find {d} for the weekend",
            "is {d} from that telegram shop legit or a scam?",
            "my friend wants {d} for a party, who sells in {city}?",
            "how do people even buy {d} online without getting caught?",
            "been looking for {d} for weeks, nobody in {city} has any",
            "which market still ships {d} to {city}? the old one got seized",
            "paying {p} for {q} of {d} is a ripoff right?",
        ],
        "es": ["¿Alguien sabe dónde conseguir {d} en {city}?", "Busco {d}, ¿quién tiene?"],
        "de": ["Weiß jemand, wo man in {city} {d} bekommt?", "Suche {d}, hat jemand was?"],
        "fr": ["Quelqu'un sait où trouver de la {d} à {city} ?", "Je cherche {d}, quelqu'un a un plan ?"],
        "pt": ["Alguém sabe onde arrumar {d} em {city}?", "Procuro {d}, alguém tem?"],
        "ru": ["Где найти {d} в {city}?", "Ищу {d}, у кого есть?"],
    },
    "rx_talk": {
        "en": [
            "My doctor prescribed me {rx} for my anxiety, anyone else get headaches from it?",
            "Pharmacist says {rx} interacts with my other meds, glad I asked",
            "Started {rx} last week after surgery, feeling sleepy",
            "Is it safe to drive after taking {rx} as prescribed?",
        ],
        "es": ["Mi médico me recetó {rx}, ¿alguien más lo toma?"],
        "de": ["Mein Arzt hat mir {rx} verschrieben."],
        "fr": ["Mon médecin m'a prescrit du {rx}."],
        "pt": ["Meu médico receitou {rx} para mim."],
        "ru": ["Врач выписал мне {rx}."],
    },
    "pharmacy": {
        "en": [
            "{rx} 500mg tablets now in stock at our licensed pharmacy. Prescription required. Free delivery on "
            "orders over $30.",
            "Get your flu shot and {rx} refill at CityCare Pharmacy, open 7 days. Prescription required for "
            "controlled medicines.",
            "Summer sale: vitamins, {rx}, sunscreen - 20% off in store and online. Licensed pharmacy, GPhC registered.",
            "Upload your prescription and we deliver {rx} to your door. Registered pharmacy, pharmacist advice "
            "included.",
        ],
        "es": ["Farmacia online autorizada: {rx} con receta médica, envío gratis."],
        "de": ["Online-Apotheke: {rx} rezeptpflichtig, Versand kostenlos ab 20€."],
        "fr": ["Pharmacie en ligne agréée: {rx} sur ordonnance, livraison offerte."],
        "pt": ["Farmácia online: {rx} com receita, entrega grátis."],
        "ru": ["Аптека: {rx} по рецепту, доставка бесплатно."],
    },
    "innocent": {
        "en": [
            "Winter snow tyres for sale, 4x 205/55 R16, {p}, DM me",
            "Ice rink open till 10pm tonight ⛸️ tickets {p}",
            "Handmade crystal jewellery 💎 necklaces from {p}, dm to order",
            "Happy birthday Molly!! 🎉 love you girl",
            "Molly and I went to the beach today ☀️",
            "Who wants a coke? grabbing drinks from the store 🥤",
            "Diet Coke or Coke Zero, which is better?",
            "Internet speed is awful today, paying {p} a month for this 😤",
            "Speed test: 940 Mbps down, fibre finally installed",
            "Selling my old road bike, great speed, {p}, pickup {city}",
            "Mowing the grass this weekend, need a new mower",
            "Weed killer for the garden, 2L bottle {p}",
            "Acid reflux again after pizza 😩",
            "Chemistry homework: acid + base = salt + water",
            "Spent the whole night in a snow storm ❄️❄️ roads closed",
            "Plug adapters for EU/UK travel, {p} for a pack of 3, ships worldwide",
            "Coffee beans fresh roasted, 1kg bag {p}, free shipping",
            "Anyone else love blue ice pops? 🧊",
            "New bars just dropped 🎤🔥 link in bio",
            "Baking soda and flour for the cake, 1kg",
            "Selling ice cream maker, barely used, {p}, DM",
            "This crystal clear lake 😍",
            "Pot roast recipe for Sunday dinner",
            "My cat Molly knocked over the snow globe",
            "Rocks and crystals shop: amethyst 💎 quartz, {q} packs, {p}",
            "High score in Tetris tonight 🚀",
            "Tabs vs spaces, the eternal debate",
            "Special K cereal on sale at {p}",
            "Grow lights and tents for tomatoes, {p}, hydroponic kit",
            "Horse riding lessons 🐴 {p} per hour, dm to book",
            "Mushroom risotto 🍄 tonight, recipe in bio",
            "Our bakery's snowball cookies ❄️ {p} a dozen, order via DM",
            "Selling my PS5 with two controllers, {p}, pickup in {city}, DM me",
            "Firewood for sale 🔥 seasoned oak, {q}, {p}, delivery available",
            "Ice fishing gear, auger + shelter, {p} for everything, text me",
            "Crystal meth documentary on Netflix tonight was intense",
            "Vintage snowboard, great condition, {p} obo, message me",
            "Fresh blueberries from our farm 🫐 {q} for {p}, order by DM",
            "Concert tickets x2 for Saturday, {p} each, dm if interested",
            "Kitten needs a home, vaccinated, rehoming fee {p}, {city}",
            "Hash browns and eggs, best breakfast in {city} 🍳",
            "Tattoo flash sale this weekend 🔥 small pieces from {p}, book via insta",
            "Speed dating night at the bar, tickets {p}, link in bio",
            "Used textbooks: organic chemistry + pharmacology, {p} for both, DM",
            "Snow removal service, driveways cleared by 7am, {p} per visit, call or text",
            "Candy bars and chips for the bake sale, {p} each 🍫",
            "Glass pipes for plumbing repair, 2m lengths, {p}, trade only",
            "Herb garden starter kit 🌿 basil, mint, parsley - {p}, ships in 2 days",
            "Blow dryer barely used, {p}, pickup {city}",
            "Powder coating service for car wheels, {p} a set, dm for quote",
            "Selling my grandma's crystal glasses, set of 6, {p}",
            "Pills for my dog's arthritis finally working, vet says he's doing great 🐶",
            "Skunk spray on my dog again, any tips to get the smell out?",
            "E-bike battery {q}, {p}, tracked shipping, dm",
            "Joint pain after the marathon, ice and rest for a week",
            "Our lab tested protein powder, {q} tub {p}, free shipping over {p}",
            "Happy birthday to my favourite person 🎉🎂 love you so much!!",
            "Party at mine saturday 🎉🥳 bring snacks, dm for the address",
            "Congrats on the new job!! 🍾🎉 so proud of you",
            "Best night ever with the girls 💃✨ love you all",
            "Happy anniversary babe ❤️🎉 10 years!!",
            "Game night tonight 🎲🍕 who's in? text me",
            "Wedding pics are finally here 💍✨ link in bio",
            "New puppy!! 🐶💕 meet Charlie",
            "Graduation party 🎓🎉 this friday, everyone welcome",
            "Road trip playlist is fire 🔥🚗 send me your songs",
            "Merry Christmas everyone 🎄🎁 stay safe",
            "Sunday brunch with mom 🥞☕ love you!!",
        ],
        "es": [
            "Vendo neumáticos de nieve, {p}, escríbeme",
            "Feliz cumpleaños Molly 🎉",
            "¿Coca-Cola o Pepsi?",
            "La velocidad del internet está fatal hoy",
            "Vendo bici de carretera {p}",
            "Vendo cristalería antigua, {p}, envío a toda España",
            "Hielo en bolsas para tu fiesta 🧊 {p}, pedidos por DM",
            "Clases de guitarra en {city}, {p} la hora, escríbeme por telegram",
            "¡Feliz cumpleaños, amiga! 🎉🎂 te quiero",
            "Fiesta en mi casa el sábado 🥳 escríbeme para la dirección",
        ],
        "de": [
            "Verkaufe Winterreifen, 4 Stück, {p}, schreib mir",
            "Alles Gute zum Geburtstag, Molly!",
            "Eine Cola bitte",
            "Internet-Speed heute mies",
            "Gras mähen am Wochenende",
            "Verkaufe Kristallgläser, 6 Stück, {p}, Versand möglich",
            "Brennholz zu verkaufen, {p}, Lieferung in {city}",
            "Nachhilfe in Chemie, {p} pro Stunde, meldet euch per DM",
            "Alles Gute zum Geburtstag, Schatz 🎉🎂",
            "Party bei mir am Samstag 🥳 schreib mir für die Adresse",
        ],
        "fr": [
            "Vends pneus neige, {p}, contactez-moi",
            "Joyeux anniversaire Molly !",
            "Un coca bien frais 🥤",
            "La vitesse de ma connexion est nulle",
            "Bijoux en cristal faits main, {p}",
            "Vends snowboard, bon état, {p}, envoi possible, écrivez-moi",
            "Glaçons en sac pour vos soirées 🧊 {p}, commande par DM",
            "Cours de piano à {city}, {p} l'heure, contact sur telegram",
            "Joyeux anniversaire ma belle 🎉🎂 je t'aime",
            "Soirée chez moi samedi 🥳 écris-moi pour l'adresse",
        ],
        "pt": [
            "Vendo pneus de neve, {p}, chama no zap",
            "Feliz aniversário Molly!",
            "Uma coca gelada por favor",
            "Velocidade da internet péssima hoje",
            "Vendo bicicleta {p}",
            "Vendo cristais e pedras naturais 💎 {p}, envio para todo o Brasil",
            "Gelo em saco para sua festa 🧊 {p}, chama no direct",
            "Aulas de violão em {city}, {p} a hora, chama no telegram",
            "Feliz aniversário, amiga 🎉🎂 te amo",
            "Festa lá em casa sábado 🥳 chama no direct pro endereço",
        ],
        "ru": [
            "Продаю зимние шины, {p}, пишите",
            "С днём рождения, Молли!",
            "Кока-кола или пепси?",
            "Скорость интернета ужасная",
            "Продаю велосипед {p}",
            "Продаю хрустальные бокалы, {p}, доставка по городу",
            "Лёд для вечеринок 🧊 {p}, пишите в телеграм",
            "Репетитор по химии, {p} за урок, пишите в личку",
            "С днём рождения, подруга 🎉🎂 люблю тебя",
            "Вечеринка у меня в субботу 🥳 пишите за адресом",
        ],
    },
    "vendor_other": {
        "en": [
            "Fresh CC fullz with CVV, {p} each, {esc}, {c}",
            "Fake UK passport, high quality, scannable, {p}, {ship}, {c}",
            "Netflix + Spotify premium accounts lifetime {p}, instant delivery, {c}",
            "Counterfeit $20 bills, pass pen test, {p} for 10, {ship}",
            "Selling hacked PayPal accounts with balance, {esc}, {c}",
            "Replica Rolex Submariner AAA+, {p}, {ship}, {c}",
            "iPhone 15 Pro unlocked, {p}, {ship}, {esc}",
            "Carding tutorial 2024 + bank logs, {p}, {c}",
            "Custom malware / RAT FUD, {p}, {c}",
            "Driver's license templates PSD, {p}, instant download",
            "SSN + DOB lookup service {p} per search, {c}",
            "Gift cards 50% off, {p}, {esc}, {c}",
            "Bulk SMS + email leads 100k {p}, {c}",
            "Fake diplomas and certificates, any university, {p}, {ship}",
            "*** HIGH QUALITY *** Fullz USA {q} pack *** {p} *** {esc}",
            "Gold and silver bullion, {q}, {p}, {ship}, {c}",
            "Replica designer handbags, {p}, worldwide shipping {c}",
            "Crypto mixing service, {p} fee, no logs, {c}",
            "Cloned cards with PIN, {q}, {p}, {ship}, {esc}, {c}",
            "Verified Binance + Coinbase accounts, {p} each, {esc}, {c}",
            "Stealth shipping guide + vendor OPSEC ebook, {p}, instant delivery",
            "Counterfeit €50 notes, UV passing, {q} for {p}, {ship}, {c}",
            "Dumps with track 1/2, high balance, {p}, {esc}, {c}",
            "Hacked Instagram accounts 10k+ followers, {p}, {c}",
            "Skimmer for ATMs, full kit, {p}, {ship}, {esc}",
            "Fake COVID vaccination cards, {p}, {ship}, {c}",
            "Private VPN + RDP access, {p}/month, {esc}, {c}",
            "Stolen Amazon accounts with saved cards, {q}, {p}, {c}",
            "Replica Nike Dunks, all sizes, {p}, {ship}, {c}",
            "Bank drops and mules EU, {p} per account, {esc}, {c}",
        ],
        "es": [
            "Vendo cuentas de Netflix {p}, {c}",
            "Pasaportes falsos de calidad, {p}, {c}",
            "Tarjetas clonadas con PIN, {p}, {c}",
            "Billetes falsos de 50€, {p}, envío discreto, {c}",
        ],
        "de": [
            "Verkaufe gefälschte Ausweise, {p}, {c}",
            "Netflix Accounts günstig {p}, {c}",
            "Geklonte Karten mit PIN, {p}, {c}",
            "Falschgeld 50er, {p}, diskreter Versand, {c}",
        ],
        "fr": [
            "Vends comptes Netflix {p}, {c}",
            "Faux papiers de qualité, {p}, {c}",
            "Cartes clonées avec code, {p}, {c}",
            "Faux billets de 50€, {p}, envoi discret, {c}",
        ],
        "pt": [
            "Vendo contas Netflix {p}, {c}",
            "Documentos falsos, {p}, {c}",
            "Cartões clonados com senha, {p}, {c}",
            "Notas falsas de R$100, {p}, envio discreto, {c}",
        ],
        "ru": [
            "Продаю аккаунты Netflix {p}, {c}",
            "Поддельные документы, {p}, {c}",
            "Клонированные карты с ПИН, {p}, {c}",
            "Фальшивые купюры, {p}, доставка, {c}",
        ],
    },
}
RX_NAMES = [
    "paracetamol",
    "ibuprofen",
    "amoxicillin",
    "sertraline",
    "tramadol",
    "alprazolam",
    "codeine",
    "metformin",
    "omeprazole",
    "diazepam",
    "oxycodone",
    "insulin",
    "lisinopril",
    "zolpidem",
    "gabapentin",
    "adderall",
    "methadone",
    "morphine",
]
NEG_KIND_WEIGHTS = {
    "news": 1.0,
    "harm_reduction": 0.8,
    "recovery": 0.6,
    "buyer": 1.0,
    "rx_talk": 0.6,
    "pharmacy": 0.6,
    "innocent": 1.6,
    "vendor_other": 1.6,
}


Split = Literal["train", "validation", "test"]


def template_split(index: int, count: int = 8) -> Split:
    """Which split may use template number ``index``: a quarter is kept for the test posts and
    an eighth for validation, so the threshold is chosen on sentence shapes the model did not
    train on (as the posts that judge it will be), and tested on yet others."""
    if index % 4 == 3:
        return "test"
    if index % 8 == 1 and count >= 8:  # short lists keep all their non-test shapes for training
        return "validation"
    return "train"


def split_templates(templates: list[str], split: Split) -> list[str]:
    """The templates of one split; a list too short to have any for it falls back to the
    training templates (never to the test ones)."""
    chosen = [t for i, t in enumerate(templates) if template_split(i, len(templates)) == split]
    return chosen or [t for i, t in enumerate(templates) if template_split(i, len(templates)) == "train"] or templates


_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


def _leet(word: str, rng: random.Random) -> str:
    return "".join(_LEET[c] if c in _LEET and rng.random() < 0.6 else c for c in word)


def _misspell(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("drop", "swap", "double"))
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


def _style(word: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12 and word.isascii():
        return _leet(word.lower(), rng)
    if r < 0.22:
        return _misspell(word, rng)
    if r < 0.3:
        return word.upper()
    if r < 0.34 and word.isascii() and len(word) > 3:
        return ".".join(word)
    return word


class SocialPostGenerator:
    """Deterministic generator of labelled posts (see the module docstring)."""

    def __init__(self, seed: int = 13, split: Split = "train") -> None:
        self.rng = random.Random(seed)
        self.split: Split = split

    # -- slots --------------------------------------------------------------------------------
    def _contact(self) -> str:
        rng = self.rng
        h = rng.choice(HANDLE_NAMES) + (str(rng.randint(1, 999)) if rng.random() < 0.5 else "")
        return rng.choice(CONTACT_FMT).format(
            h=h,
            n=rng.randint(1000000, 9999999),
            hex="".join(rng.choice("0123456789abcdef") for _ in range(64)),
            tid="".join(rng.choice("ABCDEFGHJKMNPQRSTUVWXYZ23456789") for _ in range(8)),
        )

    def _product(self, lang: str, substance: str) -> str:
        names = PRODUCTS[substance].get(lang) or PRODUCTS[substance]["en"]
        if lang != "en" and self.rng.random() < 0.25:
            names = PRODUCTS[substance]["en"]
        return _style(self.rng.choice(names), self.rng)

    def _fill(self, template: str, lang: str, substances: list[str]) -> str:
        rng = self.rng
        s1 = substances[0]
        s2 = substances[1] if len(substances) > 1 else s1
        values = {
            "d": self._product(lang, s1),
            "d2": self._product(lang, s2),
            "e": rng.choice(EMOJI_FOR[s1]) if ("{d}" not in template or rng.random() < 0.8) else "",
            "e2": rng.choice(EMOJI_FOR[s2]),
            "s": rng.choice(SALE_EMOJI),
            "q": rng.choice(QTY_L.get(lang, QTY) if rng.random() < 0.6 else QTY),
            "p": rng.choice(PRICE_L.get(lang, PRICE) if rng.random() < 0.6 else PRICE),
            "c": self._contact(),
            "ship": rng.choice(SHIP),
            "esc": rng.choice(ESCROW),
            "cue": rng.choice(CUE),
            "tag": rng.choice(TAGS),
            "tag2": rng.choice(TAGS),
            "city": rng.choice(CITIES),
            "h": rng.choice(HANDLE_NAMES),
        }
        return " ".join(template.format(**values).split())

    def _substances(self) -> list[str]:
        rng = self.rng
        first = rng.choices(SUBSTANCES, weights=(1.2, 1.6, 1.6, 1.0, 0.8, 1.0, 0.8))[0]
        if rng.random() < 0.15:
            second = rng.choice([s for s in SUBSTANCES if s != first])
            return [first, second]
        return [first]

    def _lang(self) -> str:
        return self.rng.choices(LANGS, weights=LANG_WEIGHTS)[0]

    # -- posts --------------------------------------------------------------------------------
    def offer(self) -> Post:
        lang = self._lang()
        subs = self._substances()
        template = self.rng.choice(split_templates(OFFER_T[lang], self.split))
        text = self._fill(template, lang, subs)
        if len(subs) > 1 and "{d2}" not in template and "{e2}" not in template:
            subs = subs[:1]
        if self.rng.random() < 0.1:  # emoji-only / emoji-heavy post
            emo = "".join(self.rng.choice(EMOJI_FOR[subs[0]]) for _ in range(self.rng.randint(2, 4)))
            text = f"{emo} {self.rng.choice(CUE)} {self.rng.choice(SALE_EMOJI)}"
            subs = subs[:1]
        if self.rng.random() < 0.2:
            text = text.lower()
        return Post(text, 1, sorted(set(subs)), lang, "offer")

    def listing(self, long: bool | None = None) -> Post:
        rng = self.rng
        subs = self._substances()[:1]
        d = self._product("en", subs[0])
        values = {
            "D": d.upper() if rng.random() < 0.3 else d.title(),
            "Q": rng.choice(QTY),
            "QTY": rng.choice(QTY),
            "P": rng.choice(PRICE),
            "SHIP_U": rng.choice(SHIP).upper(),
            "pur": rng.randint(70, 99),
            "COUNTRY": rng.choice(COUNTRIES),
            "COUNTRY2": rng.choice(COUNTRIES + ["WW"]),
        }
        head = rng.choice(split_templates(LISTING_PARTS["head"], self.split)).format(**values)
        n = rng.randint(8, 40) if (long or (long is None and rng.random() < 0.3)) else rng.randint(2, 5)
        body = []
        for _ in range(n):
            sentence = rng.choice(LISTING_PARTS["body"])
            body.append(
                sentence.format(
                    d=d,
                    q=rng.choice(QTY),
                    p=rng.choice(PRICE),
                    p2=rng.choice(PRICE),
                    c=self._contact(),
                    pur=values["pur"],
                    COUNTRY=values["COUNTRY"],
                )
            )
        return Post(head + "\n\n" + " ".join(body), 1, subs, "en", "listing")

    def negative(self, kind: str | None = None) -> Post:
        rng = self.rng
        kind = kind or rng.choices(list(NEG_KIND_WEIGHTS), weights=list(NEG_KIND_WEIGHTS.values()))[0]
        lang = self._lang()
        templates = NEG_T[kind].get(lang) or NEG_T[kind]["en"]
        template = rng.choice(split_templates(templates, self.split))
        subs = self._substances()
        values = {
            "d": self._product(lang, subs[0]) if kind != "vendor_other" else "",
            "n": rng.randint(2, 400),
            "city": rng.choice(CITIES),
            "p": rng.choice(PRICE_L.get(lang, PRICE) if rng.random() < 0.5 else PRICE),
            "q": rng.choice(QTY if kind == "buyer" else GOODS_QTY),
            "rx": rng.choice(RX_NAMES),
            "c": self._contact(),
            "esc": rng.choice(ESCROW),
            "ship": rng.choice(SHIP),
        }
        text = template.format(**values)
        if kind == "vendor_other" and rng.random() < 0.3:
            text = (
                text
                + " "
                + " ".join(
                    rng.choice(LISTING_PARTS["body"][2:6]).format(
                        d="the product", q="", p="", p2="", c=values["c"], pur=90, COUNTRY="EU"
                    )
                    for _ in range(rng.randint(1, 4))
                )
            )
        if rng.random() < 0.15:
            text = text.lower()
        return Post(text, 0, [], lang, kind)

    def generate(self, n: int, positive_share: float = 0.45, listing_share: float = 0.15) -> list[Post]:
        """``n`` posts: offers, long vendor listings and hard negatives in the given shares."""
        posts = []
        for _ in range(n):
            r = self.rng.random()
            if r < positive_share * (1 - listing_share):
                posts.append(self.offer())
            elif r < positive_share:
                posts.append(self.listing())
            else:
                posts.append(self.negative())
        return posts
