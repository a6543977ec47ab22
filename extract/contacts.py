"""Messenger handles, phone numbers and e-mail addresses a seller asks buyers to use."""

from __future__ import annotations

import re

from dragnet.documents import Contact
from extract.text import cap

_SEP = r"\s*(?:[:=\-–—>➡→➜👉]+|\bat\b|\bme\b|\bid\b)?\s*"
_HANDLE = r"@?([A-Za-z0-9][A-Za-z0-9_.\-]{2,31}[A-Za-z0-9_])"
_PHONE = r"(\+?\d[\d \-().]{6,18}\d)"

_CONTACT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("telegram", re.compile(r"(?:https?://)?(?:t\.me|telegram\.me|telegram\.dog)/([A-Za-z0-9_]{4,32})", re.I)),
    ("whatsapp", re.compile(r"(?:https?://)?wa\.me/(\d{6,15})", re.I)),
    ("session", re.compile(r"(?<![0-9a-fA-F])(05[0-9a-fA-F]{64})(?![0-9a-fA-F])")),
    (
        "email",
        re.compile(
            r"(?<![\w.+-])([A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24})(?![\w])"
        ),
    ),
    (
        "telegram",
        re.compile(
            r"(?<![\w])(?:telegram|tele|tg|telega|телега|телеграм|телеграмм)"
            + r"\s*(?:[:=\-–—>➡→➜👉]+|\bat\b|\bme\b)?\s*@([A-Za-z][A-Za-z0-9_]{3,31})",
            re.I,
        ),
    ),
    (
        "telegram",
        re.compile(
            r"(?<![\w])(?:telegram|tele|tg|telega|телега|телеграм|телеграмм)\s*[:=\-–—>➡→➜👉]+\s*([A-Za-z][A-Za-z0-9_]{3,31})",
            re.I,
        ),
    ),
    ("wickr", re.compile(r"(?<![\w])wickr(?:\s*me)?(?:\s*id)?" + _SEP + _HANDLE, re.I)),
    ("threema", re.compile(r"(?<![\w])threema(?:\s*id)?" + _SEP + r"([A-Z0-9*]{8})(?![A-Za-z0-9])", re.I)),
    ("session", re.compile(r"(?<![\w])session(?:\s*id)?" + _SEP + r"(05[0-9a-fA-F]{64})", re.I)),
    ("whatsapp", re.compile(r"(?<![\w])(?:whatsapp|whats app|wa|zap|wsp)" + _SEP + _PHONE, re.I)),
    ("signal", re.compile(r"(?<![\w])signal(?:\s*id)?" + _SEP + _PHONE, re.I)),
    (
        "signal",
        re.compile(r"(?<![\w])signal(?:\s*id)?\s*[:=\-–—>➡→➜👉]+\s*@?([A-Za-z][A-Za-z0-9_]{2,31}\.\d{2,})", re.I),
    ),
    (
        "snapchat",
        re.compile(
            r"(?<![\w])(?:snapchat|snap|sc)"
            + r"\s*(?:[:=\-–—>➡→➜👉]+|\bat\b|\bme\b)?\s*@([A-Za-z][A-Za-z0-9_.\-]{2,14})",
            re.I,
        ),
    ),
    (
        "snapchat",
        re.compile(r"(?<![\w])(?:snapchat|snap|sc)\s*[:=\-–—>➡→➜👉]+\s*([A-Za-z][A-Za-z0-9_.\-]{2,14})", re.I),
    ),
    ("kik", re.compile(r"(?<![\w])kik" + r"\s*[:=\-–—>➡→➜👉@]+\s*@?([A-Za-z][A-Za-z0-9_.]{1,19})", re.I)),
    (
        "handle",
        re.compile(
            r"(?<![\w])(?:dm|dms|pm|hmu|inbox|message|text|add|contact)\s*(?:me\s*)?(?:on|at|@)?\s*(?:[:=\-–—>➡→➜👉]+\s*)?@([A-Za-z][A-Za-z0-9_.]{2,29})",
            re.I,
        ),
    ),
)


# Substrings (case-folded) without which each contact pattern cannot match: a pattern whose
# trigger is absent is skipped, which saves most of the 16 scans of a typical post.
_CONTACT_TRIGGERS: tuple[tuple[str, ...], ...] = (
    ("t.me/", "telegram.me/", "telegram.dog/"),
    ("wa.me/",),
    ("05",),
    ("@",),
    ("@",),
    ("tele", "tg", "телег"),
    ("wickr",),
    ("threema",),
    ("session",),
    ("whatsapp", "whats app", "wa", "zap", "wsp"),
    ("signal",),
    ("signal",),
    ("@",),
    ("snap", "sc"),
    ("kik",),
    ("@",),
)
assert len(_CONTACT_TRIGGERS) == len(_CONTACT_PATTERNS)


def contact_spans(text: str) -> list[tuple[Contact, int, int]]:
    found: list[tuple[Contact, int, int]] = []
    seen: set[tuple[str, str]] = set()
    taken: list[tuple[int, int]] = []
    folded = text.casefold()  # at least every match re.IGNORECASE would allow
    for (kind, pattern), triggers in zip(_CONTACT_PATTERNS, _CONTACT_TRIGGERS, strict=True):
        if not any(trigger in folded for trigger in triggers):
            continue
        for m in pattern.finditer(text):
            handle = m.group(1).strip().rstrip(".-")
            if kind in {"whatsapp", "signal"} and handle[0] in "+0123456789(":
                handle = re.sub(r"[ \-().]", "", handle)
                if not 7 <= len(handle.lstrip("+")) <= 15:
                    continue
            if kind == "session" or kind == "email":
                handle = handle.lower() if kind == "session" else handle
            if kind == "handle" and any(s <= m.start(1) < e for s, e in taken):
                continue
            if kind == "snapchat" or kind == "telegram" or kind == "handle":
                handle = handle.lstrip("@")
            if kind == "email" and any(s <= m.start(1) < e for s, e in taken):
                continue
            key = (kind, handle.lower())
            if key in seen:
                continue
            seen.add(key)
            taken.append((m.start(1), m.end(1)))
            found.append((Contact(kind=kind, handle=handle), m.start(), m.end()))
    # an email address is also caught by the "@handle" patterns: keep the email reading only
    emails = {c.handle.lower() for c, _, _ in found if c.kind == "email"}
    found = [
        item
        for item in found
        if item[0].kind == "email"
        or not any(
            e.startswith(item[0].handle.lower() + "@") or e.split("@", 1)[1].startswith(item[0].handle.lower())
            for e in emails
        )
    ]
    return sorted(found, key=lambda item: item[1])


def extract_contacts(text: str) -> list[Contact]:
    """Messenger handles, phone numbers and e-mail addresses a seller asks buyers to use.

    Recognises Telegram (``t.me/x``, ``tele: @x``), Wickr, Signal, Snapchat, WhatsApp (numbers,
    ``wa.me``), Session ids, Threema ids, Kik, e-mail addresses, and ``DM @x`` handles.  A bare
    "@name" without a messenger or DM cue is not a contact (it is usually a mention).
    """
    return [contact for contact, _, _ in contact_spans(cap(text))]
