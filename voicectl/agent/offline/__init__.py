"""The offline Hebrew booking agent: rule-based NLU + slot filling + the booking tools.

It is the embedded default and the fallback when an LLM agent fails, so it holds a real
booking dialogue on its own (SEEDS.md seed 000 item 4, seed 001 items 1-5, seed 002 B-C):

- greets once (turn kind "greeting"), never again (seed 001 item 4);
- fills service, date, time and name from any turn in any order, never asks again for
  what the caller already said, and lets a follow-up change only what it names;
- calls `find_slots` before saying anything about availability, then asks the name, then
  `create_appointment` (seed 002 B order); a full request in one sentence books at once;
- offers tool suggestions/alternatives in one sentence and books the one picked;
- confirms an inferred time ("בשלוש" -> 15:00) before booking;
- `need_phone` -> one short DTMF prompt (`wants_dtmf`), never asks for the phone by voice;
- after a phone-less booking offers a WhatsApp confirmation by DTMF (seed 001 item 2);
- `validation_error` -> one short clarification, then retries (seed 000 item 4);
- answers policy questions (hours, open days, services, durations; prices unknown);
- a short nudge on silence, a polite close on goodbye or repeated silence.

Per-call memory lives only in `conversation.state["offline"]` (a `DialogueState`, stored
as JSON-friendly values) and `conversation.history`; one agent instance serves every call
of the process.

Modules: `state` (the typed dialogue state and what the agent is waiting for), `turn`
(one turn's context: the booking tools, the policy, the business clock, the date/time
facts), `dialogue` (the dialogue policy: an utterance -> slots -> the next step), `offers`
(availability, offers, booking and the tools' errors), `answers` (questions, closing,
re-asking), `agent` (the `Agent` entry point and the non-speech turns).
"""

from voicectl.agent.offline.agent import OfflineAgent

__all__ = ["OfflineAgent"]
