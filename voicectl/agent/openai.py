"""The OpenAI agent (`agent: openai`, extra `openai`): an LLM behind the same `Agent` protocol.

It speaks Chat Completions through the official `openai` client, so any OpenAI-compatible
server works by `base_url` (vLLM, Ollama, llama.cpp server; TWILIO.md "OpenAI tool
calling"). The settings are the seeds' (SEEDS.md seed 001 items 4-5, seed 002 B):

- the booking tools as strict function schemas (`additionalProperties: false`, every
  property required, an optional one as a `null` union), `parallel_tool_calls=false`;
- `temperature=0.2`, output capped at 200 tokens (`max_completion_tokens`);
- `tool_choice="required"` on the first round of a turn whose words name a day or a time
  (a booking step that needs `find_slots` / `create_appointment`), `"auto"` after a tool
  result, `"none"` on the last allowed round - so a turn always ends in a spoken answer and
  can never loop;
- every turn sends the last `openai_history_messages` (8-12) messages (`messages=`, never
  a fresh session) and the assistant's reply is appended to the history at the end;
- short English instructions, answers in Hebrew (seed 000 item 4, seed 001 item 5);
- dates are never the model's guess (seed 001 item 6): the turn's words go through the
  project's Hebrew resolver (`resolve_when`) and the model gets `date_iso` and a 14-day
  calendar in a context message.

Streaming (`respond_stream`, what the call runner uses): every round is requested with
`stream=True`; the round that answers in words hands each sentence to the call as soon as
it is complete (cut on `.`, `?`, `!` and newlines, never inside "12:30" or "3.5"), so
the caller hears the first sentence while the rest is still being written and
`AI_LATENCY_MS` ends at the first sentence. Tool-call rounds stream too (their arguments
are gathered from the deltas): a round cannot be known to be the last before it starts.

A timeout (`openai_timeout_ms`, inside the AI budget), a 429/5xx, a connection failure or
malformed tool arguments never drop the call: the caller hears a short Hebrew holding
phrase and the offline agent answers that turn from the same conversation. A failure
after the first sentence was spoken keeps what was said and ends the reply there; a
cancelled turn (barge-in) stops reading the stream at once. The history always gets the
reply as the caller was given it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from voicectl.agent.base import (
    AgentReply,
    Conversation,
    Message,
    ReplyStream,
    ToolCallRecord,
    TurnInput,
)
from voicectl.agent.offline import OfflineAgent
from voicectl.hebrew.when import resolve_when
from voicectl.logs import get_logger, mask_phone, mask_phones_in
from voicectl.speech.phrases import SentenceSplitter

_log = get_logger("agent.openai")

#: Spoken before the offline agent's answer when the model failed this turn.
HOLDING_PHRASE_HE = "רק רגע."
#: Spoken when a booking was made this turn and the model then failed.
BOOKED_FALLBACK_HE = "התור נקבע. אפשר לעזור במשהו נוסף?"

#: Rounds (model calls) per turn: tool rounds, then a forced spoken answer.
MAX_ROUNDS = 4
TEMPERATURE = 0.2  # seed 001 item 5, seed 002 B
MAX_OUTPUT_TOKENS = 200  # seed 001 item 5 ("max_output_tokens≈200"), seed 002 B / D.4
CALENDAR_DAYS = 14
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

INSTRUCTIONS = """\
You are the phone receptionist of {business}. You book appointments by phone.
Rules:
- Always answer in Hebrew, in one or two short spoken sentences; your first answer has at \
most 24 words. No lists, markdown or emoji.
- Greet only in your first answer. If this is not the first turn, never greet again: \
continue filling the booking details and call the tools.
- Booking order: service and time -> find_slots -> the caller's name (and phone only when \
needed) -> confirm the details with the caller -> create_appointment.
- Before saying a day or time is unavailable, you must call find_slots for that date.
- Never work out dates yourself: use the date_iso values in the Context message (the \
caller's words already resolved, and a calendar). If the day is unclear, ask.
- If a tool returns ok=false with error=validation_error, ask one short clarification in \
Hebrew and then retry the tool.
- If create_appointment returns error=need_phone, say in one sentence that the caller \
should type the phone number on the keypad and finish with #. Never ask for a phone \
number by voice; the caller's number from caller id or the keypad is used automatically.
- If create_appointment returns error=hold_lost or error=confirm_failed, the appointment \
was NOT saved: apologise in one sentence, say it was not saved because of a fault and that \
the business will call back; never say it is booked and do not retry.
- If the caller says goodbye or needs nothing more, call end_call and say a short goodbye.
Services (use the id in tool calls): {services}."""

#: The tools as strict function schemas (TWILIO.md: strict needs additionalProperties
#: false and every property required; optional = a null union).
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "find_slots",
            "description": "Free appointment start times on one local date.",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "date_iso": {"type": "string", "description": "YYYY-MM-DD from Context"},
                    "service": {"type": ["string", "null"], "description": "service id"},
                    "after": {"type": ["string", "null"], "description": "HH:MM or null"},
                },
                "required": ["date_iso", "service", "after"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "create_appointment",
            "description": "Book the appointment the caller confirmed.",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {
                    "start_iso": {
                        "type": "string",
                        "description": "a start_iso returned by find_slots",
                    },
                    "service": {"type": "string", "description": "service id"},
                    "customer_name": {"type": "string"},
                    "customer_phone": {
                        "type": ["string", "null"],
                        "description": "only if the caller said one; else null",
                    },
                },
                "required": ["start_iso", "service", "customer_name", "customer_phone"],
                "additionalProperties": False,
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "end_call",
            "description": "Hang up after your goodbye.",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {},
                "required": [],
                "additionalProperties": False,
            },
        },
    },
]
_TOOL_PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


class ModelError(RuntimeError):
    """The model's answer cannot be used (malformed tool arguments, unknown tool, empty)."""


class _Cancelled(Exception):
    """The turn was cancelled while the model was still answering."""


def check_arguments(name: str, raw: str) -> dict[str, Any]:
    """Parse and validate one tool call's JSON arguments against its strict schema.

    Args:
        name: the tool name the model called.
        raw: the `arguments` string it sent.

    Returns:
        The arguments as a dict.

    Raises:
        ModelError: unknown tool, arguments that are not a JSON object, a missing or an
            extra property, or a value of the wrong type.
    """
    schema = _TOOL_PARAMS.get(name)
    if schema is None:
        raise ModelError(f"unknown tool {name!r}")
    try:
        args = json.loads(raw or "{}")
    except ValueError as exc:
        raise ModelError(f"{name}: arguments are not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise ModelError(f"{name}: arguments are not a JSON object")
    props = schema["properties"]
    if set(args) != set(props):
        raise ModelError(f"{name}: arguments {sorted(args)} != schema {sorted(props)}")
    for key, spec in props.items():
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        value = args[key]
        if not (
            (value is None and "null" in types) or (isinstance(value, str) and "string" in types)
        ):
            raise ModelError(f"{name}: {key} has the wrong type")
    return args


class OpenAIAgent:
    """The LLM booking agent (see the module docstring). One instance per process.

    Args:
        settings: `openai_model`, `openai_base_url`, `openai_api_key`, `openai_timeout_ms`,
            `openai_history_messages`.
        client: an `openai.OpenAI` to use (tests); else one is built from the settings, the
            key and endpoint falling back to `OPENAI_API_KEY` / `OPENAI_BASE_URL` as the
            library reads them.
        fallback: the agent that answers a turn the model failed (default: offline).

    Raises:
        openai.OpenAIError: no API key anywhere (the registry then falls back to offline).
    """

    name = "openai"

    @classmethod
    def from_settings(cls, settings: Any) -> OpenAIAgent:
        """The provider registry's constructor."""
        return cls(settings)

    def __init__(self, settings: Any, client: Any = None, fallback: Any = None) -> None:
        import httpx
        import openai

        self.settings = settings
        self.model = settings.openai_model
        self.timeout_s = settings.openai_timeout_ms / 1000
        self.history_messages = settings.openai_history_messages
        self.client = client or openai.OpenAI(
            api_key=settings.openai_api_key or None,
            base_url=settings.openai_base_url or None,
            timeout=self.timeout_s,
            max_retries=0,  # a retry would spend the caller's AI budget twice
        )
        self.fallback = fallback or OfflineAgent()
        # httpx errors: a stream cut or stalled mid-answer surfaces as the transport's own.
        self._errors = (openai.OpenAIError, httpx.HTTPError, ModelError)

    # ------------------------------------------------------------------ the turn
    def respond(self, turn: TurnInput, conversation: Conversation, tools: Any) -> AgentReply:
        """Answer one turn; never raises (see the module docstring for the fallback)."""
        return self._answer(turn, conversation, tools, None)

    def respond_stream(
        self, turn: TurnInput, conversation: Conversation, tools: Any, stream: ReplyStream
    ) -> AgentReply:
        """Answer one turn, handing each sentence to `stream` as the model writes it
        (`voicectl.agent.base.StreamingAgent`); never raises."""
        return self._answer(turn, conversation, tools, stream)

    def _answer(
        self, turn: TurnInput, conversation: Conversation, tools: Any, stream: ReplyStream | None
    ) -> AgentReply:
        ctx = _TurnContext(turn, conversation, tools)
        calls: list[ToolCallRecord] = []
        spoken: list[str] = []  # sentences already handed to the call
        t0 = time.perf_counter()
        try:
            reply = self._run(ctx, calls, stream, spoken)
        except _Cancelled:
            reply = self._said(calls, spoken)
        except Exception as exc:  # noqa: BLE001 - respond must never raise
            if not isinstance(exc, self._errors):
                _log.warning("openai agent failed unexpectedly", exc_info=True)
            if not spoken:
                return self._fall_back(ctx, calls, exc, time.perf_counter() - t0)
            # The caller already hears the answer: keep what was said, end it there.
            _log.warning(
                "openai agent: the stream failed after %d sentences on turn %s of %s (%s); "
                "the reply ends there",
                len(spoken),
                ctx.conv.turn_index,
                ctx.conv.call_sid,
                f"{exc.__class__.__name__}: {exc}"[:160],
            )
            reply = self._said(calls, spoken)
        self._remember(ctx, calls, reply)
        return reply

    @staticmethod
    def _said(calls: list[ToolCallRecord], spoken: list[str]) -> AgentReply:
        """The reply made of the sentences already spoken (a cut-short stream)."""
        return AgentReply(
            " ".join(spoken),
            calls,
            wants_dtmf=any(c.result.get("error") == "need_phone" for c in calls),
            end_call=any(c.name == "end_call" for c in calls),
        )

    def request(self, messages: list[dict[str, Any]], tool_choice: str) -> dict[str, Any]:
        """The keyword arguments of one Chat Completions call (also what tests assert)."""
        return {
            "model": self.model,
            "messages": messages,
            "tools": TOOLS,
            "tool_choice": tool_choice,
            "parallel_tool_calls": False,
            "temperature": TEMPERATURE,
            "max_completion_tokens": MAX_OUTPUT_TOKENS,
            "timeout": self.timeout_s,
        }

    def _run(
        self,
        ctx: _TurnContext,
        calls: list[ToolCallRecord],
        stream: ReplyStream | None,
        spoken: list[str],
    ) -> AgentReply:
        messages = ctx.messages(self.history_messages)
        deadline = time.monotonic() + self.timeout_s
        for round_no in range(MAX_ROUNDS):
            if round_no == MAX_ROUNDS - 1:
                choice = "none"
            elif round_no == 0 and ctx.needs_tool:
                choice = "required"
            else:
                choice = "auto"
            kwargs = self.request(messages, choice)
            kwargs["timeout"] = max(0.05, deadline - time.monotonic())
            if stream is None:
                msg = self.client.chat.completions.create(**kwargs).choices[0].message
                content = (msg.content or "").strip()
                tool_calls = [
                    {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
                    for tc in msg.tool_calls or []
                ]
            else:
                content, tool_calls = self._stream_round(kwargs, stream, spoken, deadline)
            if not tool_calls:
                if stream is not None and spoken:
                    return self._said(calls, spoken)
                if not content:
                    raise ModelError("empty answer")
                return self._said(calls, [content])
            messages.append(
                {
                    "role": "assistant",
                    "content": content or None,
                    "tool_calls": [
                        {
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": tc["name"], "arguments": tc["arguments"]},
                        }
                        for tc in tool_calls
                    ],
                }
            )
            for tc in tool_calls:
                args = check_arguments(tc["name"], tc["arguments"])
                result = ctx.call_tool(tc["name"], args, calls)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": tc["id"],
                        "content": json.dumps(result, ensure_ascii=False, default=str),
                    }
                )
        raise ModelError("no spoken answer")  # unreachable: the last round is "none"

    def _stream_round(
        self, kwargs: dict[str, Any], stream: ReplyStream, spoken: list[str], deadline: float
    ) -> tuple[str, list[dict[str, str]]]:
        """One round with `stream=True`: words go to `stream` sentence by sentence as they
        arrive; tool calls are gathered from their deltas.

        Returns:
            (the round's whole text, its tool calls as `{"id", "name", "arguments"}`).

        Raises:
            _Cancelled: the turn was cancelled (the stream is closed at once).
            ModelError: no sentence before the turn's deadline.
            openai.OpenAIError, httpx.HTTPError: the request or the stream failed.
        """
        splitter = SentenceSplitter()
        text: list[str] = []
        tool_calls: dict[int, dict[str, str]] = {}

        def hand_over(sentences: list[str]) -> None:
            for sentence in sentences:
                if not stream.sentence(sentence):
                    raise _Cancelled
                spoken.append(sentence)

        response = self.client.chat.completions.create(**kwargs, stream=True)
        try:
            for chunk in response:
                if stream.cancelled:
                    raise _Cancelled
                if not spoken and time.monotonic() > deadline:
                    raise ModelError("no sentence before the timeout")
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                for tc in delta.tool_calls or []:
                    slot = tool_calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    slot["id"] = tc.id or slot["id"]
                    if tc.function is not None:
                        slot["name"] += tc.function.name or ""
                        slot["arguments"] += tc.function.arguments or ""
                if delta.content:
                    text.append(delta.content)
                    hand_over(splitter.feed(delta.content))
            hand_over(splitter.flush())
        finally:
            response.close()  # a cancelled turn stops the model's stream now
        return "".join(text).strip(), [tool_calls[k] for k in sorted(tool_calls)]

    def _fall_back(
        self, ctx: _TurnContext, calls: list[ToolCallRecord], exc: BaseException, spent_s: float
    ) -> AgentReply:
        reason = f"{exc.__class__.__name__}: {exc}"[:160]
        _log.warning(
            "openai agent: %s after %.0f ms on turn %s of %s; the offline agent answers",
            reason,
            spent_s * 1000,
            ctx.conv.turn_index,
            ctx.conv.call_sid,
        )
        if any(c.name == "create_appointment" and c.result.get("ok") for c in calls):
            # Booked before the failure: the offline agent must not book a second time.
            reply = AgentReply(BOOKED_FALLBACK_HE, calls)
            self._remember(ctx, calls, reply)
            return reply
        reply = self.fallback.respond(ctx.turn, ctx.conv, ctx.tools)
        text = f"{HOLDING_PHRASE_HE} {reply.text}".strip()
        last = ctx.conv.history[-1] if ctx.conv.history else None
        if last is not None and last.role == "assistant" and last.content == reply.text:
            last.content = text  # the history holds what the caller heard
        return AgentReply(
            text,
            calls + list(reply.tool_calls),
            wants_dtmf=reply.wants_dtmf,
            end_call=reply.end_call,
        )

    def _remember(self, ctx: _TurnContext, calls: list[ToolCallRecord], reply: AgentReply) -> None:
        """Append the turn, a summary of each tool result and the reply (seed 001 item 4)."""
        hist = ctx.conv.history
        if ctx.turn.kind != "greeting":  # the greeting answers no caller words
            hist.append(Message("user", ctx.user_text()))
        for c in calls:
            content = mask_phones_in(json.dumps(_summary(c), ensure_ascii=False, default=str))
            hist.append(Message("tool", content, name=c.name))
        hist.append(Message("assistant", reply.text))


class _TurnContext:
    """One turn's inputs: the business, the clock, the resolved date and the history."""

    def __init__(self, turn: TurnInput, conv: Conversation, tools: Any) -> None:
        self.turn, self.conv, self.tools = turn, conv, tools
        self.policy = getattr(tools, "policy", None)
        tz = getattr(self.policy, "tz", None)
        now = conv.now
        self.now: datetime = now.astimezone(tz) if tz is not None and now.tzinfo else now
        self.today: date = self.now.date()
        hours_on: Callable[[date], Any] | None = getattr(self.policy, "hours_on", None)
        self.when = resolve_when(turn.text, self.now, hours_on) if turn.kind == "speech" else None
        pending_phone = any(
            m.role == "tool" and '"need_phone"' in m.content for m in conv.history[-6:]
        )
        self.needs_tool = bool(self.when is not None and self.when.found) or (
            turn.kind == "dtmf_phone" and pending_phone
        )

    def user_text(self) -> str:
        """The caller's turn as a history entry (the offline agent's shapes)."""
        kind = self.turn.kind
        if kind == "speech":
            return self.turn.text
        if kind == "dtmf_phone":
            return f"[DTMF] {mask_phone(self.turn.text)}"
        if kind == "dtmf_invalid":
            return "[DTMF] (invalid number)"
        if kind == "silence":
            return "[silence]"
        return "[call answered]"

    def messages(self, n_history: int) -> list[dict[str, Any]]:
        """System instructions, the context, the last `n_history` messages, this turn."""
        out: list[dict[str, Any]] = [
            {"role": "system", "content": self.instructions()},
            {"role": "system", "content": self.context()},
        ]
        for m in self.conv.history[-n_history:]:
            if m.role in ("user", "assistant"):
                out.append({"role": m.role, "content": m.content})
            elif m.role == "tool":  # an earlier turn's tool result, summarised
                out.append({"role": "system", "content": f"Earlier {m.name} result: {m.content}"})
        out.append({"role": "user", "content": self._turn_words()})
        return out

    def _turn_words(self) -> str:
        kind = self.turn.kind
        if kind == "speech":
            return self.turn.text or "[the caller said nothing intelligible]"
        if kind == "dtmf_phone":
            return "[the caller typed their phone number on the keypad; it is saved]"
        if kind == "dtmf_invalid":
            return "[the caller typed digits that are not a valid phone number]"
        if kind == "silence":
            return "[the caller has been silent for a while]"
        return "[the call was just answered: greet the caller]"

    def instructions(self) -> str:
        services = getattr(self.policy, "services", ()) or ()
        listed = "; ".join(
            f"{s.id} = {s.name} ({s.duration_min} min"
            + (f", also called {', '.join(s.aliases)}" if s.aliases else "")
            + ")"
            for s in services
        )
        business = getattr(self.policy, "name", None) or self.conv.business_id
        return INSTRUCTIONS.format(business=business, services=listed or "none listed")

    def context(self) -> str:
        lines = [
            f"Context: now {self.now:%Y-%m-%d %H:%M} ({_WEEKDAYS[self.today.weekday()]}), "
            f"business time zone {getattr(self.policy, 'tz', 'local')}.",
            f"Turn {self.conv.turn_index} of the call"
            + (" (the first: greet)." if self.conv.turn_index == 0 else " (do not greet)."),
            "Caller's phone number known: "
            + ("yes." if self.conv.caller_number else "no.")
            + (
                " A phone is required before booking."
                if getattr(self.policy, "require_phone_before_booking", False)
                else ""
            ),
        ]
        if self.when is not None and self.when.found:
            w = self.when
            said = []
            if w.date is not None:
                said.append(f"date_iso={w.date.isoformat()} ({_WEEKDAYS[w.date.weekday()]})")
            if w.time is not None:
                said.append(f"time={w.time:%H:%M}")
            if w.part_of_day:
                said.append(f"part of day={w.part_of_day}")
            if w.ambiguous:
                said.append(f"ambiguous ({', '.join(w.ambiguous)}): ask which")
                said += [f"option {c.isoformat()}" for c in w.candidates[:4]]
            lines.append("This turn the caller's words resolve to: " + "; ".join(said) + ".")
        lines.append("Calendar (date_iso, weekday, opening hours):")
        for k in range(CALENDAR_DAYS):
            d = self.today + timedelta(days=k)
            label = {0: "today", 1: "tomorrow"}.get(k, "")
            lines.append(f"  {d.isoformat()} {_WEEKDAYS[d.weekday()]} {label} {self._hours(d)}")
        return "\n".join(lines)

    def _hours(self, d: date) -> str:
        hours_on = getattr(self.policy, "hours_on", None)
        if hours_on is None:
            return ""
        try:
            ranges = hours_on(d)
        except Exception:  # noqa: BLE001 - context only
            return ""
        if not ranges:
            return "closed"
        return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in ranges)

    def call_tool(
        self, name: str, args: dict[str, Any], calls: list[ToolCallRecord]
    ) -> dict[str, Any]:
        """Run one tool; a missing tool set or an exception becomes `{ok: false, ...}`."""
        t0 = time.perf_counter()
        if name == "end_call":
            result: dict[str, Any] = {"ok": True}
        elif self.tools is None or not hasattr(self.tools, name):
            result = {"ok": False, "error": "unavailable", "message": "booking is unavailable"}
        else:
            try:
                result = getattr(self.tools, name)(**args)
            except Exception as exc:  # noqa: BLE001 - BookingTools never raise; others might
                result = {"ok": False, "error": "validation_error", "message": str(exc)[:120]}
        calls.append(ToolCallRecord(name, args, result, (time.perf_counter() - t0) * 1000))
        return result


def _summary(call: ToolCallRecord) -> dict[str, Any]:
    """What the next turns need from a tool result (slot times, not the whole day)."""
    r = call.result
    out = {k: r[k] for k in ("ok", "error", "reason", "appointment_id", "start_iso") if k in r}
    if "date_iso" in r:
        out["date_iso"] = r["date_iso"]
    if r.get("slots") is not None:
        out["slots"] = [s.get("start_iso") for s in r["slots"][:12]]
    if r.get("alternatives"):
        out["alternatives"] = r["alternatives"][:3]
    if r.get("suggestions"):
        out["suggestions"] = r["suggestions"][:3]
    return out
