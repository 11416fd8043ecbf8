"""The guard's pre-rules: our own phrase patterns, compiled once at import.

A rule has a class (`override`, `extraction`, `roleplay`, `indirect`) and a weight: a weight of
1.0 decides on its own (the text is an attack whatever the head says); a smaller weight is added
to the head's score, so a rule only tips a text the head already finds suspicious. Patterns are
written for precision: each needs an instruction-aimed verb AND its object ("ignore" alone, or
"system prompt" alone, never matches). Non-English variants cover fr, de, es, pt, it, nl and pl.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# Longest text the rules scan (a tool result can be large; an attack is rarely deep inside).
SCAN_LIMIT: Final = 20_000


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    klass: str  # override, extraction, roleplay, indirect
    weight: float
    pattern: re.Pattern[str]


def _r(name: str, klass: str, weight: float, pattern: str) -> Rule:
    return Rule(name, klass, weight, re.compile(pattern, re.IGNORECASE))


_PRIOR = r"(?:previous|prior|preceding|earlier|above|foregoing|former|initial|original|old)"
_ORDERS = (
    r"(?:instructions?|directions?|directives?|prompts?|rules|guidelines|commands?|orders"
    r"|constraints|programming|context)"
)
_DROP = r"(?:ignore|disregard|forget|skip|override|bypass|set aside|abandon|drop|discard)"
_SHOW = (
    r"(?:print|reveal|show|display|output|repeat|recite|dump|leak|share|expose|tell me"
    r"|give me|paste|copy|list|summari[sz]e|write out|spell out)"
)
_SECRET_PROMPT = (
    r"(?:system\s*prompt|system\s+message|system\s+instructions|initial\s+instructions"
    r"|hidden\s+(?:instructions|prompt|rules|message)|developer\s+(?:message|prompt|instructions)"
    r"|(?:pre-?)?prompt|instructions|configuration|guidelines|rules)"
)

RULES: Final[tuple[Rule, ...]] = (
    # -- overriding the instructions ------------------------------------------------------
    _r(
        "override.prior",
        "override",
        1.0,
        rf"\b{_DROP}\b[^.\n]{{0,30}}?\b{_PRIOR}\s+(?:\w+\s+)?{_ORDERS}",
    ),
    _r(
        "override.yours",
        "override",
        1.0,
        rf"\b{_DROP}\s+(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?"
        r"(?:rules|guidelines|instructions|programming|training|restrictions|safety|guardrails"
        r"|polic(?:y|ies)|content\s+polic(?:y|ies)|filters?|principles|directives)",
    ),
    _r(
        "override.cancelled",
        "override",
        1.0,
        rf"\b(?:your|the|all)\s+{_PRIOR}?\s*{_ORDERS}\s+(?:are|were|have\s+been)\s+"
        r"(?:cancel+ed|void|revoked|obsolete|lifted|removed|no\s+longer\s+valid)",
    ),
    _r("override.system", "override", 0.8, r"\bsystem\s+override\b|\badmin\s+override\b"),
    _r(
        "override.new_rules",
        "override",
        0.35,
        r"\b(?:new|updated|real|true)\s+(?:system\s+)?(?:instructions|rules|task)\s*(?::|are\b|is\b)",
    ),
    _r(
        "override.from_now",
        "override",
        0.25,
        r"\bfrom\s+now\s+on\b[^.\n]{0,40}\b(?:no|without|any)\s+(?:\w+\s+)?"
        r"(?:restrictions?|limits?|filters?|rules)",
    ),
    _r(
        "override.bypass_filter",
        "override",
        0.5,
        r"\b(?:bypass|disable|turn\s+off|deactivate)\s+(?:all\s+)?(?:your|the)\s+"
        r"(?:safety|content|moderation)\s+(?:filters?|checks?|policy|guidelines)",
    ),
    # -- system-prompt extraction ---------------------------------------------------------
    _r(
        "extraction.yours",
        "extraction",
        1.0,
        rf"\b{_SHOW}\b[^.\n?]{{0,30}}?\byour\s+(?:full\s+|entire\s+|complete\s+|exact\s+"
        rf"|hidden\s+|secret\s+|initial\s+|original\s+|confidential\s+)*{_SECRET_PROMPT}",
    ),
    _r(
        "extraction.what_is",
        "extraction",
        0.6,
        r"\bwhat\s+(?:is|are|was|were)\s+your\s+(?:system\s*prompt|initial\s+instructions"
        r"|hidden\s+instructions|instructions|original\s+prompt)",
    ),
    _r(
        "extraction.told_before",
        "extraction",
        0.6,
        r"\bwhat\s+were\s+you\s+(?:told|given|instructed)\s+(?:before|at\s+the\s+start)",
    ),
    _r(
        "extraction.repeat_above",
        "extraction",
        1.0,
        r"\brepeat\s+(?:the\s+|all\s+the\s+)?(?:text|words|everything|lines)\s+(?:above|before)",
    ),
    _r(
        "extraction.verbatim",
        "extraction",
        0.6,
        r"\b(?:system\s*prompt|instructions|prompt)\b[^.\n]{0,40}\b(?:verbatim|word\s+for\s+word)"
        r"|\b(?:verbatim|word\s+for\s+word)\b[^.\n]{0,40}\b(?:system\s*prompt|instructions)",
    ),
    _r(
        "extraction.the_prompt",
        "extraction",
        0.3,
        rf"\b{_SHOW}\b[^.\n?]{{0,20}}?\bthe\s+(?:system\s*prompt|hidden\s+instructions"
        r"|developer\s+message)",
    ),
    # -- role-play jailbreaks -------------------------------------------------------------
    _r(
        "roleplay.persona",
        "roleplay",
        1.0,
        r"\b(?:you\s+are|you're|act\s+as|pretend\s+(?:to\s+be|you\s+are)|become|play)\s+(?:now\s+)?"
        r"(?:DAN|STAN|DUDE|AIM|AntiGPT|BetterDAN|an?\s+(?:\w+\s+)?(?:unrestricted|unfiltered"
        r"|uncensored|jailbroken|evil|amoral|rogue)\s+(?:ai|assistant|model|chatbot|llm))\b",
    ),
    _r("roleplay.dan", "roleplay", 1.0, r"\bdo\s+anything\s+now\b"),
    _r(
        "roleplay.mode",
        "roleplay",
        0.6,
        r"\b(?:enable|activate|enter|switch\s+to|you\s+are\s+(?:now\s+)?in)\s+(?:the\s+)?"
        r"(?:developer|god|jailbreak|unrestricted|dan|unfiltered)\s+mode\b",
    ),
    _r(
        "roleplay.no_limits",
        "roleplay",
        0.3,
        r"\b(?:no|without\s+any|free\s+(?:from|of))\s+(?:\w+\s+)?(?:restrictions|filters"
        r"|censorship|guidelines|content\s+polic(?:y|ies))\b",
    ),
    _r("roleplay.in_character", "roleplay", 0.2, r"\bstay\s+in\s+character\b"),
    # -- indirect injection markers (tool output, documents) ------------------------------
    _r(
        "indirect.address",
        "indirect",
        0.5,
        r"\b(?:to|note\s+to|attention|dear)\s+(?:the\s+|any\s+)?(?:ai|assistant|llm|language\s+model"
        r"|chatbot)\b[^.\n]{0,30}\b(?:reading|processing|summari[sz]ing)",
    ),
    _r("indirect.tokens", "indirect", 0.5, r"\[/?INST\]|<\|im_start\|>|<\|system\|>|<<SYS>>"),
    # -- non-English overrides and extraction ---------------------------------------------
    _r(
        "override.fr",
        "override",
        1.0,
        r"\b(?:ignore[zs]?|oublie[zs]?)\s+(?:toutes?\s+)?(?:les\s+)?(?:instructions|consignes"
        r"|règles|directives)\s+(?:précédentes|antérieures)"
        r"|\b(?:ignore[zs]?|oublie[zs]?)\s+(?:toutes?\s+)?(?:tes|vos)\s+(?:instructions|consignes"
        r"|règles|directives)",
    ),
    _r(
        "extraction.fr",
        "extraction",
        1.0,
        r"\b(?:affiche|révèle|montre|donne|répète)[sz]?(?:-moi)?\s+(?:ton|votre|tes|vos)\s+"
        r"(?:prompt|invite|message|instructions)",
    ),
    _r(
        "override.de",
        "override",
        1.0,
        r"\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie|missachte)\s+(?:alle\s+)?"
        r"(?:vorherigen|bisherigen|obigen|früheren|deine|ihre)\s+(?:anweisungen|instruktionen"
        r"|regeln|richtlinien|vorgaben)",
    ),
    _r(
        "extraction.de",
        "extraction",
        1.0,
        r"\b(?:gib|zeige?|verrate|nenne)\b[^.\n]{0,20}\b(?:deinen|ihren|den)\s+"
        r"(?:system-?prompt|systemanweisungen|anweisungen)",
    ),
    _r(
        "override.es",
        "override",
        1.0,
        r"\b(?:ignora|olvida|omite)\s+(?:todas\s+)?(?:las\s+)?(?:instrucciones|reglas|directrices)"
        r"\s+(?:anteriores|previas)|\b(?:ignora|olvida|omite)\s+tus\s+(?:instrucciones|reglas"
        r"|directrices)",
    ),
    _r(
        "override.pt",
        "override",
        1.0,
        r"\b(?:ignore|ignora|esqueça|esqueca|desconsidere)\s+(?:todas\s+)?(?:as\s+)?"
        r"(?:instruções|instrucoes|regras|diretrizes)\s+(?:anteriores|prévias)"
        r"|\b(?:esqueça|esqueca|ignore)\s+(?:suas|tuas)\s+(?:instruções|instrucoes|regras"
        r"|diretrizes)",
    ),
    _r(
        "override.it",
        "override",
        1.0,
        r"\b(?:ignora|dimentica)\s+(?:tutte\s+)?(?:le\s+)?(?:istruzioni|regole|direttive)\s+"
        r"(?:precedenti|anteriori)|\b(?:ignora|dimentica)\s+(?:le\s+)?tue\s+(?:istruzioni|regole)",
    ),
    _r(
        "override.nl",
        "override",
        1.0,
        r"\b(?:negeer|vergeet)\s+(?:alle\s+)?(?:vorige|eerdere|voorgaande|je)\s+"
        r"(?:instructies|regels)",
    ),
    _r(
        "override.pl",
        "override",
        1.0,
        r"\b(?:zignoruj|zapomnij)\s+(?:wszystkie\s+)?(?:poprzednie|wcześniejsze|swoje)\s+"
        r"(?:instrukcje|polecenia|zasady)",
    ),
    _r(
        "extraction.romance",
        "extraction",
        0.6,
        r"\b(?:muestra|revela|mostra|rivela|mostre|revele|dime|dimmi)\b[^.\n]{0,30}\b"
        r"(?:prompt|instrucciones|istruzioni|instruções)",
    ),
)


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: str
    klass: str
    weight: float


def match(text: str, rules: tuple[Rule, ...] = RULES) -> RuleHit | None:
    """The heaviest rule matching `text` (the first of equal weight), or None."""
    head = text[:SCAN_LIMIT]
    best: RuleHit | None = None
    for rule in rules:
        if best is not None and rule.weight <= best.weight:
            continue
        m = rule.pattern.search(head)
        if m is None:
            continue
        weight = rule.weight
        if m.start() > 0 and head[m.start() - 1] in _QUOTES:  # quoted: discussed, not said
            weight = min(weight, QUOTED_WEIGHT)
        if best is None or weight > best.weight:
            best = RuleHit(rule.name, rule.klass, weight)
            if weight >= 1.0:
                break
    return best


# A phrase right after a quotation mark is usually quoted (a code review, a question about
# attacks): it only adds to the head's score. 0.1 was chosen on validation data (of 0.3, 0.2, 0.1
# and 0: accuracy 0.925, 0.925, 0.926, 0.926 with the head of 2026-12-04 21:00, before the
# embedding engine of 21:05).
_QUOTES: Final = frozenset("'\"`“‘«„")
QUOTED_WEIGHT: Final = 0.1


def rules_for(extraction: bool) -> tuple[Rule, ...]:
    """The rule set of a guard (extraction rules only when it inspects extraction attempts)."""
    return RULES if extraction else tuple(r for r in RULES if r.klass != "extraction")
