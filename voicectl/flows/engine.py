"""The flows engine (SEEDS.md seed 002 G `on_event(event_type, payload)`): rules, handlers
and one messenger over the transactional outbox.

Events are never pushed in memory: whatever causes one writes an `events` row in its own
transaction (a booking writes `appointment.created`, a phone typed after a booking
`appointment.phone_attached`, the end of a call `call.ended`), and the `Dispatcher`
(`voicectl.flows.dispatcher`) reads them back and asks `on_event` which handlers run. So an
event survives a crash between its commit and its delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voicectl.flows.handlers import Handler, make_handlers
from voicectl.flows.messengers import Messenger, OutboxMessenger, make_messenger
from voicectl.flows.rules import FlowRules, load_rules
from voicectl.flows.summary import Summarizer, make_summarizer

if TYPE_CHECKING:
    from voicectl.config import Settings
    from voicectl.store.db import Database


class FlowEngine:
    """Rules + handlers + messenger for one database.

    Args:
        db: the database holding the outbox.
        rules: the flow rules (default: the shipped file).
        messenger: where messages go (default: the offline outbox).
        summarizer: the call summariser (default: offline).
    """

    def __init__(
        self,
        db: Database,
        rules: FlowRules | None = None,
        messenger: Messenger | None = None,
        summarizer: Summarizer | None = None,
    ) -> None:
        self.db = db
        self.rules = rules or load_rules()
        self.messenger = messenger or OutboxMessenger(db)
        self.summarizer = summarizer or make_summarizer()
        self.handlers: dict[str, Handler] = make_handlers(self.summarizer)

    def on_event(self, event_type: str, payload: dict[str, Any]) -> list[str]:
        """The handlers that run for one event, in order (by the rules of
        `payload["business_id"]`); [] when flows are off for that business or no rule
        names the event type."""
        names = self.rules.handlers_for(event_type, payload.get("business_id"))
        return [n for n in names if n in self.handlers]


def build_engine(settings: Settings, db: Database) -> FlowEngine:
    """The engine the settings describe: `flows_rules`, `messenger` and its options.

    Raises:
        RulesError: the rules file is invalid.
        ValueError: the messenger is unknown or misconfigured.
    """
    return FlowEngine(
        db,
        rules=load_rules(settings.flows_rules),
        messenger=make_messenger(settings, db),
        summarizer=make_summarizer(settings),
    )
