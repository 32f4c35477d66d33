"""The `Agent` entry point of the offline agent, and the turns that are not speech."""

from __future__ import annotations

import json

from voicectl.agent import phrases as P
from voicectl.agent.base import AgentReply, Conversation, Message, TurnInput
from voicectl.agent.offline import dialogue, offers
from voicectl.agent.offline.state import DialogueState, Waiting
from voicectl.agent.offline.turn import Turn
from voicectl.booking.tools import BookingTools
from voicectl.clock import Clock, MonotonicClock
from voicectl.config import Settings
from voicectl.logs import get_logger, mask_phone, mask_phones_in

log = get_logger("agent")

STATE_KEY = "offline"
MAX_DTMF_TRIES = 3
"""Invalid DTMF numbers before the agent gives up asking."""


class OfflineAgent:
    """The rule-based Hebrew booking agent (see the module docstring).

    Args:
        clock: a monotonic clock for tool latencies (default: the real one).
        settings: the process settings (accepted for the provider registry; not used).
    """

    name = "offline"

    def __init__(self, clock: Clock | None = None, settings: Settings | None = None) -> None:
        self.clock: Clock = clock or MonotonicClock()
        self.settings = settings

    # -- entry point ---------------------------------------------------------------------

    def respond(
        self, turn: TurnInput, conversation: Conversation, tools: BookingTools | None
    ) -> AgentReply:
        """Answer one turn; never raises (an internal failure -> a short apology).

        Args:
            turn: what the caller did (speech, a typed phone, silence, the call start).
            conversation: the call's history and `state["offline"]` (the dialogue state).
            tools: the call's booking tools (None: the agent can only apologise).

        Returns:
            The reply; the caller's turn, the tool results and the reply are appended to
            `conversation.history` and the dialogue state is saved in `conversation.state`.
        """
        ctx: Turn | None = None
        try:
            ctx = self._context(turn, conversation, tools)
            text = self._dispatch(ctx)
            conversation.state[STATE_KEY] = ctx.st.to_dict()
            reply = AgentReply(
                text=text, tool_calls=ctx.calls, wants_dtmf=ctx.wants_dtmf, end_call=ctx.end_call
            )
        except Exception:  # noqa: BLE001 - respond must never raise
            log.warning(
                "offline agent failed on turn %s of %s",
                conversation.turn_index,
                conversation.call_sid,
                exc_info=True,
            )
            reply = AgentReply(text=P.APOLOGY, tool_calls=ctx.calls if ctx else [])
            pending = DialogueState.from_dict(conversation.state.get(STATE_KEY)).pending
            if pending in (Waiting.NEED_PHONE, Waiting.WHATSAPP):
                reply.wants_dtmf = True
        try:
            self._remember(turn, conversation, reply)
        except Exception:  # noqa: BLE001
            log.warning("could not append to the history", exc_info=True)
        return reply

    def _context(self, turn: TurnInput, conv: Conversation, tools: BookingTools | None) -> Turn:
        if tools is None:
            raise RuntimeError("the offline agent needs the call's booking tools")
        tz = tools.policy.tz
        now = conv.now.astimezone(tz) if conv.now.tzinfo else conv.now.replace(tzinfo=tz)
        st = DialogueState.from_dict(conv.state.get(STATE_KEY))
        return Turn(turn=turn, conv=conv, tools=tools, now=now, st=st, clock=self.clock)

    def _remember(self, turn: TurnInput, conv: Conversation, reply: AgentReply) -> None:
        if turn.kind == "speech":
            conv.history.append(Message("user", turn.text or ""))
        elif turn.kind == "dtmf_phone":
            conv.history.append(Message("user", f"[DTMF] {mask_phone(turn.text)}"))
        elif turn.kind in ("dtmf_timeout", "dtmf_skipped"):
            conv.history.append(Message("user", f"[DTMF] ({turn.kind})"))
        elif turn.kind == "dtmf_invalid":
            conv.history.append(Message("user", "[DTMF] (invalid number)"))
        elif turn.kind == "silence":
            conv.history.append(Message("user", "[silence]"))
        for c in reply.tool_calls:
            summary = {
                k: c.result.get(k)
                for k in ("ok", "error", "appointment_id", "start_iso", "reason")
                if k in c.result
            }
            if "slots" in c.result:
                summary["slots"] = len(c.result.get("slots") or [])
            conv.history.append(
                Message(
                    "tool",
                    mask_phones_in(json.dumps(summary, ensure_ascii=False, default=str)),
                    name=c.name,
                )
            )
        conv.history.append(Message("assistant", reply.text))

    def _dispatch(self, c: Turn) -> str:
        kind = c.turn.kind
        if kind == "greeting":
            return self._greeting(c)
        c.st.greeted = True
        if kind == "silence":
            return self._silence(c)
        c.st.silence = 0
        if kind == "dtmf_phone":
            return self._dtmf_phone(c)
        if kind == "dtmf_invalid":
            return self._dtmf_invalid(c)
        if kind == "dtmf_timeout":  # keys stopped mid-number: one short re-prompt
            c.wants_dtmf = True
            return P.DTMF_RETRY
        if kind == "dtmf_skipped":  # no number this time: go on, it can be typed later
            c.st.pending = Waiting.ANYTHING_ELSE
            return f"{P.PHONE_LATER} {P.ANYTHING_ELSE}"
        return dialogue.speech(c)

    # -- non-speech turns ----------------------------------------------------------------

    def _greeting(self, c: Turn) -> str:
        if c.st.greeted:
            return P.HOW_CAN_I_HELP
        c.st.greeted = True
        return P.greeting(c.policy.name or c.conv.business_id)

    def _silence(self, c: Turn) -> str:
        st = c.st
        st.silence += 1
        if st.pending is Waiting.WHATSAPP:
            c.end_call = True
            st.pending = None
            return P.GOODBYE_NO_WHATSAPP
        if st.pending is Waiting.NEED_PHONE:
            if st.silence >= 2:
                c.end_call = True
                return P.PHONE_GAVE_UP
            c.wants_dtmf = True
            return P.TYPE_PHONE
        if st.silence >= 2:
            c.end_call = True
            return P.SILENCE_BYE
        return P.NUDGE

    def _dtmf_phone(self, c: Turn) -> str:
        st = c.st
        phone = (c.turn.text or "").strip() or None
        st.phone = phone
        st.dtmf_invalid = 0
        booked = st.booked
        if booked and booked.id is not None and not booked.phone and phone:
            res = c.attach_phone(booked.id, phone)
            st.pending = Waiting.ANYTHING_ELSE
            if res.get("ok"):
                booked.phone = res.get("customer_phone") or phone
                saved = P.PHONE_SAVED if res.get("confirmation", "whatsapp") else P.PHONE_NOTED
                return f"{saved} {P.ANYTHING_ELSE}"
            return f"{P.PHONE_NOTED} {P.ANYTHING_ELSE}"
        if st.active:
            return offers.advance(c)
        st.pending = None
        return f"{P.PHONE_NOTED} {P.HOW_CAN_I_HELP}"

    def _dtmf_invalid(self, c: Turn) -> str:
        st = c.st
        st.dtmf_invalid += 1
        if st.dtmf_invalid >= MAX_DTMF_TRIES:
            c.end_call = True
            if st.booked:
                return P.GOODBYE_NO_WHATSAPP
            return P.PHONE_GAVE_UP
        c.wants_dtmf = True
        return P.INVALID_PHONE

    # -- the booking flow ----------------------------------------------------------------

    # -- questions, cancel, closing ------------------------------------------------------
