"""The platform's statement of reasons (DSA Art. 17) attached to its feedback on a notice.

Why: a trusted flagger is told what a platform did with its notice, and Art. 17(3) lists what a
statement of reasons carries: the type of restriction and its territorial scope (a), the facts
and circumstances (b), whether automated means detected the content and took the decision (c),
the legal ground (d) or the contractual ground in the terms (e), and the redress open to the
recipient (f).  The field names and value sets follow the DSA Transparency Database API
(``decision_visibility``, ``territorial_scope``, ``automated_detection``, ``automated_decision``,
``application_date``, ``decision_ground``, ``illegal_content_legal_ground``,
``incompatible_content_ground``, ``decision_facts``), so a platform can send us what it already
sends the Commission.  Every text is capped: this arrives from outside.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dragnet.documents import utcnow
from takedown.countries import ISO_3166_ALPHA2

DecisionVisibility = Literal[
    "DECISION_VISIBILITY_CONTENT_REMOVED",
    "DECISION_VISIBILITY_CONTENT_DISABLED",
    "DECISION_VISIBILITY_CONTENT_DEMOTED",
    "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
    "DECISION_VISIBILITY_CONTENT_LABELLED",
    "DECISION_VISIBILITY_OTHER",
]
DecisionAccount = Literal["DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"]
AutomatedDecision = Literal[
    "AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED"
]
DecisionGround = Literal["DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"]
Redress = Literal["INTERNAL_COMPLAINT_HANDLING", "OUT_OF_COURT_SETTLEMENT", "JUDICIAL_REDRESS"]

MAX_GROUND_CHARS = 500
MAX_FACTS_CHARS = 5000
MAX_OTHER_CHARS = 500
MAX_REDRESS_CHARS = 1000
MAX_COUNTRIES = len(ISO_3166_ALPHA2)
# a platform in a time zone ahead of UTC may date today's decision tomorrow
DATE_SLACK = timedelta(days=1)


class StatementOfReasons(BaseModel):
    """What the platform decided about the notified content, and why (DSA Art. 17(3))."""

    model_config = ConfigDict(extra="forbid", title="StatementOfReasons")

    decision_visibility: list[DecisionVisibility] = Field(
        min_length=1,
        max_length=7,
        description="Type of restriction of the content's visibility (Art. 17(3)(a)); DSA Transparency "
        "Database values.",
    )
    decision_visibility_other: str | None = Field(
        default=None,
        max_length=MAX_OTHER_CHARS,
        description="What the restriction was, when decision_visibility holds DECISION_VISIBILITY_OTHER.",
    )
    decision_account: DecisionAccount | None = Field(
        default=None, description="A restriction of the uploader's account, if any."
    )
    territorial_scope: list[str] = Field(
        min_length=1,
        max_length=MAX_COUNTRIES,
        description="Where the restriction applies: ISO 3166-1 alpha-2 country codes (Art. 17(3)(a)).",
    )
    automated_detection: bool = Field(
        description="Whether the content was detected or identified by automated means (Art. 17(3)(c))."
    )
    automated_decision: AutomatedDecision = Field(
        description="Whether the decision was taken by automated means: fully, partially or not (Art. 17(3)(c))."
    )
    application_date: date = Field(description="The day the decision took effect (not in the future).")
    decision_ground: DecisionGround = Field(
        description="Illegal content (Art. 17(3)(d)) or content incompatible with the terms (Art. 17(3)(e))."
    )
    illegal_content_legal_ground: str | None = Field(
        default=None,
        max_length=MAX_GROUND_CHARS,
        description="The legal provision relied on; required with DECISION_GROUND_ILLEGAL_CONTENT.",
    )
    incompatible_content_ground: str | None = Field(
        default=None,
        max_length=MAX_GROUND_CHARS,
        description="The clause of the terms relied on; required with DECISION_GROUND_INCOMPATIBLE_CONTENT.",
    )
    decision_facts: str = Field(
        min_length=1,
        max_length=MAX_FACTS_CHARS,
        description="The facts and circumstances relied on (Art. 17(3)(b)).",
    )
    redress: list[Redress] = Field(
        min_length=1,
        max_length=3,
        description="The redress open to the recipient of the service (Art. 17(3)(f)).",
    )
    redress_details: str | None = Field(
        default=None,
        max_length=MAX_REDRESS_CHARS,
        description="Where and how to seek that redress (a complaint form, a settlement body).",
    )

    @field_validator("territorial_scope")
    @classmethod
    def _countries(cls, codes: list[str]) -> list[str]:
        out: list[str] = []
        for code in codes:
            upper = code.strip().upper()
            if upper not in ISO_3166_ALPHA2:
                raise ValueError(f"{code[:10]!r} is not an ISO 3166-1 alpha-2 country code")
            if upper not in out:
                out.append(upper)
        return sorted(out)

    @field_validator("decision_visibility", "redress")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return sorted(set(values))

    @field_validator("application_date")
    @classmethod
    def _not_future(cls, value: date) -> date:
        if value > (utcnow() + DATE_SLACK).date():
            raise ValueError("application_date is in the future")
        return value

    @model_validator(mode="after")
    def _grounds(self) -> StatementOfReasons:
        if "DECISION_VISIBILITY_OTHER" in self.decision_visibility and not self.decision_visibility_other:
            raise ValueError("decision_visibility_other must say what DECISION_VISIBILITY_OTHER was")
        if self.decision_ground == "DECISION_GROUND_ILLEGAL_CONTENT" and not self.illegal_content_legal_ground:
            raise ValueError("illegal_content_legal_ground is required with DECISION_GROUND_ILLEGAL_CONTENT")
        if self.decision_ground == "DECISION_GROUND_INCOMPATIBLE_CONTENT" and not self.incompatible_content_ground:
            raise ValueError("incompatible_content_ground is required with DECISION_GROUND_INCOMPATIBLE_CONTENT")
        return self

    def summary(self) -> str:
        """One line for the history and the CSV export."""
        ground = self.illegal_content_legal_ground or self.incompatible_content_ground or ""
        return (
            f"{'+'.join(v.removeprefix('DECISION_VISIBILITY_') for v in self.decision_visibility)} in "
            f"{','.join(self.territorial_scope)} from {self.application_date.isoformat()}; "
            f"{self.decision_ground.removeprefix('DECISION_GROUND_')}: {ground}; "
            f"detection {'automated' if self.automated_detection else 'manual'}, decision "
            f"{self.automated_decision.removeprefix('AUTOMATED_DECISION_')}"
        )
