"""What a fetched page says about its market: seizure banner, anti-DDoS gate, login wall,
withdrawal freeze; and fingerprints for clone detection (word shingles, 64-bit simhash).

Pages are hostile input: parsed with the standard library's tolerant HTML parser, never
executed, capped in size, and nothing from them is trusted beyond string matching.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

MAX_TEXT_CHARS = 200_000

# Seizure banners (FBI/Europol/BKA/NCA joint operations) share a vocabulary: the site "has been
# seized", by named agencies, "as part of a law enforcement action".  One strong phrase, or the
# word "seized" together with an agency, counts.
SEIZURE_PHRASES = [
    r"this (?:hidden )?(?:site|service|marketplace|market|domain|website) has been seized",
    r"has been seized by",
    r"seized (?:by|pursuant to)",
    r"(?:site|domain|server)s? (?:were|was|have been|has been) seized",
    r"law enforcement (?:action|operation)",
    r"seizure warrant",
]
SEIZURE_AGENCIES = [
    "federal bureau of investigation",
    "fbi",
    "europol",
    "eurojust",
    "bundeskriminalamt",
    "bka",
    "national crime agency",
    "homeland security investigations",
    "drug enforcement administration",
    "dea",
    "politie",
    "internal revenue service",
    "irs-ci",
    "department of justice",
    "zit",
    "generalstaatsanwaltschaft",
    "polisen",
    "policja",
    "landeskriminalamt",
]
GATE_MARKERS = [
    "ddos protection",
    "anti-ddos",
    "anti ddos",
    "ddos guard",
    "endgame",
    "captcha",
    "prove you are human",
    "verify you are human",
    "you are in a queue",
    "please wait while",
    "solve the",
    "checking your browser",
    "security check",
]
LOGIN_MARKERS = ["login", "log in", "sign in", "signin", "username", "password"]
WITHDRAWAL_MARKERS = [
    r"withdrawals? (?:are |is )?(?:temporarily |currently )?(?:disabled|suspended|paused|unavailable|frozen)",
    r"(?:disabled|suspended|paused) withdrawals?",
    r"withdrawals? (?:are|is) under maintenance",
]


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.title: list[str] = []
        self.images: list[str] = []
        self.password_inputs = 0
        self.forms = 0
        self.links = 0
        self._skip = 0
        self._in_title = False
        self._size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in {"script", "style", "noscript", "template"}:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "img" and a.get("src") and len(self.images) < 20:
            self.images.append(a["src"][:4_000_000])
        elif tag == "input" and a.get("type", "").lower() == "password":
            self.password_inputs += 1
        elif tag == "form":
            self.forms += 1
        elif tag == "a":
            self.links += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "noscript", "template"} and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        if self._skip or self._size > MAX_TEXT_CHARS:
            return
        self._size += len(data)
        self.text.append(data)


@dataclass
class PageAnalysis:
    """The signals in one page; ``status`` is what a probe should report for it."""

    title: str
    text: str
    images: list[str]
    seizure_phrases: list[str] = field(default_factory=list)
    seizure_agencies: list[str] = field(default_factory=list)
    gate_markers: list[str] = field(default_factory=list)
    login_wall: bool = False
    withdrawals_disabled: list[str] = field(default_factory=list)
    links: int = 0

    @property
    def banner_like(self) -> bool:
        """A seizure page is a banner: little text, few links, or "seized" in its title.  A market
        page that reports a competitor's seizure in its news box is none of these."""
        return "seiz" in self.title.lower() or (len(self.text) < 2500 and self.links < 10)

    @property
    def seized_by_text(self) -> bool:
        strong = [p for p in self.seizure_phrases if "seized" in p]
        return bool(strong) and (bool(self.seizure_agencies) or len(self.seizure_phrases) >= 2) and self.banner_like


def analyse_html(html: str, extra_gate: list[str] | None = None, extra_login: list[str] | None = None) -> PageAnalysis:
    """Parse ``html`` and find the banner, gate, login and withdrawal signals in it."""
    parser = _PageParser()
    try:
        parser.feed(html[: 4 * MAX_TEXT_CHARS])
        parser.close()
    except Exception:  # noqa: BLE001 - malformed markup still yields what was parsed
        pass
    text = re.sub(r"\s+", " ", " ".join(parser.text)).strip()[:MAX_TEXT_CHARS]
    title = re.sub(r"\s+", " ", " ".join(parser.title)).strip()[:300]
    low = f"{title} {text}".lower()
    phrases = [m.group(0) for p in SEIZURE_PHRASES for m in [re.search(p, low)] if m]
    agencies = [a for a in SEIZURE_AGENCIES if re.search(rf"\b{re.escape(a)}\b", low)]
    gate = [m for m in GATE_MARKERS + [g.lower() for g in (extra_gate or [])] if m and m in low]
    login_words = [m for m in LOGIN_MARKERS + [x.lower() for x in (extra_login or [])] if m and m in low]
    # A login wall: a password field and login words, and little else (few links, short text).
    login_wall = parser.password_inputs > 0 and bool(login_words) and parser.links < 15 and len(text) < 3000
    withdrawals = [m.group(0) for p in WITHDRAWAL_MARKERS for m in [re.search(p, low)] if m]
    return PageAnalysis(
        title=title,
        text=text,
        images=parser.images,
        seizure_phrases=phrases,
        seizure_agencies=agencies,
        gate_markers=gate,
        login_wall=login_wall,
        withdrawals_disabled=withdrawals,
        links=parser.links,
    )


# -- image hashes ----------------------------------------------------------------------------------
def average_hash(image_bytes: bytes, size: int = 8) -> str | None:
    """The 64-bit average hash of an image (robust to re-encoding and rescaling), or ``None``."""
    try:
        # Pillow: loaded only when an image is hashed
        from PIL import Image

        with Image.open(io.BytesIO(image_bytes)) as img:
            img.draft("L", (size * 4, size * 4))
            small = img.convert("L").resize((size, size), Image.Resampling.BILINEAR)
            pixels = list(small.tobytes())
    except Exception:  # noqa: BLE001 - not an image we can read: no perceptual hash
        return None
    mean = sum(pixels) / len(pixels)
    bits = 0
    for p in pixels:
        bits = (bits << 1) | (1 if p >= mean else 0)
    return f"{bits:0{size * size // 4}x}"


LOW_INFORMATION_STDDEV = 6.0


def image_spread(image_bytes: bytes, size: int = 32) -> float | None:
    """Standard deviation of the image's grey levels at ``size`` x ``size`` (0 for a solid colour)."""
    try:
        # Pillow: loaded only when an image is hashed
        from PIL import Image

        with Image.open(io.BytesIO(image_bytes)) as img:
            img.draft("L", (size * 2, size * 2))
            pixels = list(img.convert("L").resize((size, size), Image.Resampling.BILINEAR).tobytes())
    except Exception:  # noqa: BLE001 - not an image we can read
        return None
    mean = sum(pixels) / len(pixels)
    return float((sum((p - mean) ** 2 for p in pixels) / len(pixels)) ** 0.5)


def structureless_ahash(ahash: str | None) -> bool:
    """An average hash of all ones or all zeros says nothing: every near-uniform image has it."""
    return not ahash or set(ahash.lower()) <= {"f"} or set(ahash.lower()) <= {"0"}


def image_hashes(image_bytes: bytes) -> dict[str, str | float | bool | None]:
    """sha256, average hash, and whether the image is low-information (near-uniform): such an
    image (a placeholder, a solid background) matches any other one and proves nothing."""
    ahash = average_hash(image_bytes)
    spread = image_spread(image_bytes)
    low = ahash is None or spread is None or spread < LOW_INFORMATION_STDDEV or structureless_ahash(ahash)
    return {"sha256": hashlib.sha256(image_bytes).hexdigest(), "ahash": ahash, "low_information": low}


def hamming_hex(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def match_known_images(hashes: list[dict[str, Any]], known: list[str], max_distance: int = 6) -> list[str]:
    """Known banner hashes (``<sha256>`` or ``ahash:<hex>``) that any of ``hashes`` matches.
    Low-information images (near-uniform) and structureless known hashes never match."""
    hits: list[str] = []
    informative = [h for h in hashes if not h.get("low_information")]
    for entry in known:
        entry = entry.strip().lower()
        if entry.startswith("ahash:") and structureless_ahash(entry[6:]):
            continue
        for h in informative:
            if entry.startswith("ahash:"):
                ah = h.get("ahash")
                if ah and len(ah) == len(entry[6:]) and hamming_hex(ah, entry[6:]) <= max_distance:
                    hits.append(entry)
                    break
            elif h.get("sha256") == entry:
                hits.append(entry)
                break
    return hits


# -- clone fingerprints ----------------------------------------------------------------------------
def shingles(text: str, k: int = 3) -> set[str]:
    """Word k-shingles of normalised text: the unit of near-duplicate comparison."""
    words = re.findall(r"\w+", text.lower())
    if len(words) < k:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def simhash(text: str, k: int = 3) -> str:
    """Charikar's 64-bit simhash over word shingles: near-identical pages differ in few bits."""
    vector = [0] * 64
    for sh in shingles(text, k):
        h = int.from_bytes(hashlib.blake2b(sh.encode("utf-8"), digest_size=8).digest(), "big")
        for i in range(64):
            vector[i] += 1 if (h >> i) & 1 else -1
    bits = 0
    for i in range(64):
        if vector[i] > 0:
            bits |= 1 << i
    return f"{bits:016x}"


def simhash_similarity(a: str, b: str) -> float:
    return 1.0 - hamming_hex(a, b) / 64.0
