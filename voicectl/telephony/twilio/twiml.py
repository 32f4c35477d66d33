"""TwiML the bridge answers with, built with the `twilio` library (TWILIO.md: TwiML)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

#: Hebrew prompts of the `<Gather>` fallback (SEEDS.md seed 000 item 1, path B).
GATHER_PROMPT_HE = "הקישו את מספר הטלפון ואחר כך סולמית"
GATHER_NO_INPUT_HE = "לא התקבל קלט. ננסה שוב בהמשך."
HE_LANGUAGE = "he-IL"
#: A Hebrew voice Twilio's `<Say>` accepts for he-IL (Google voices; Amazon Polly has no
#: Hebrew). TWILIO.md: an invalid voice/language pair makes the verb fail.
HE_VOICE = "Google.he-IL-Standard-A"
#: Seconds Twilio's `<Gather>` waits for the first / next key (seed 000: timeout="6").
GATHER_TIMEOUT_S = 6
#: Spoken when the server is at `max_concurrent_calls`.
BUSY_HE = "מצטערים, כל הקווים תפוסים כרגע. אנא התקשרו שוב בעוד כמה דקות."


def connect_stream(stream_url: str, parameters: dict[str, str], say: str | None = None) -> str:
    """`<Response>[<Say>]<Connect><Stream url=…>` with one `<Parameter>` per item.

    Args:
        stream_url: absolute `wss://…/media` URL (no query string: Twilio drops it).
        parameters: delivered to the server in `start.customParameters`.
        say: Hebrew text Twilio says before connecting (e.g. "no input received").
    """
    response = VoiceResponse()
    if say:
        response.say(say, language=HE_LANGUAGE, voice=HE_VOICE)
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def gather_phone(action_url: str, timeout_s: int = GATHER_TIMEOUT_S) -> str:
    """The DTMF `<Gather>` fallback: ask for the number, finish on `#`.

    The action is called with empty `Digits` on no input too (`actionOnEmptyResult`), so
    the server says "no input received" and reconnects the stream; the `<Redirect>` after
    it does the same should Twilio fall through (TWILIO.md: no input falls through).

    Args:
        action_url: absolute URL of `/webhook/dtmf_done` (required for TwiML sent through
            the REST API).
        timeout_s: seconds to wait for a key.
    """
    response = VoiceResponse()
    gather = Gather(
        input="dtmf",
        finish_on_key="#",
        timeout=timeout_s,
        action=action_url,
        method="POST",
        action_on_empty_result=True,
    )
    gather.say(GATHER_PROMPT_HE, language=HE_LANGUAGE, voice=HE_VOICE)
    response.append(gather)
    response.redirect(action_url, method="POST")
    return str(response)


def say_and_hang_up(text: str) -> str:
    """`<Response><Say voice=HE_VOICE language="he-IL">text</Say><Hangup/></Response>`."""
    response = VoiceResponse()
    response.say(text, voice=HE_VOICE, language=HE_LANGUAGE)
    response.hangup()
    return str(response)


def empty() -> str:
    """An empty `<Response/>` (status callbacks)."""
    return str(VoiceResponse())
