"""TwiML the bridge answers with, built with the `twilio` library (TWILIO.md: TwiML)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

#: Hebrew prompts of the `<Gather>` fallback (SEEDS.md seed 000 item 1, path B).
GATHER_PROMPT_HE = "הקישו את מספר הטלפון ואחר כך סולמית"
GATHER_NO_INPUT_HE = "לא התקבל קלט. ננסה שוב בהמשך."
HE_LANGUAGE = "he-IL"
#: A Twilio `<Say>` voice that speaks `he-IL` (Twilio's Google voices; the default
#: "man"/"woman" voices have no Hebrew, and an invalid voice/language pair fails the
#: verb - TWILIO.md).
HE_VOICE = "Google.he-IL-Standard-A"
#: Spoken when the server is at `max_concurrent_calls`.
BUSY_HE = "מצטערים, כל הקווים תפוסים כרגע. אנא התקשרו שוב בעוד כמה דקות."


def connect_stream(stream_url: str, parameters: dict[str, str]) -> str:
    """`<Response><Connect><Stream url=…>` with one `<Parameter>` per item.

    Args:
        stream_url: absolute `wss://…/media` URL (no query string: Twilio drops it).
        parameters: delivered to the server in `start.customParameters`.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def gather_phone(action_url: str, timeout_s: int = 6) -> str:
    """The DTMF `<Gather>` fallback: ask for the number, finish on `#`.

    On no input Twilio falls through to the `<Say>` after the Gather (TWILIO.md).
    """
    response = VoiceResponse()
    gather = Gather(
        input="dtmf", finish_on_key="#", timeout=timeout_s, action=action_url, method="POST"
    )
    gather.say(GATHER_PROMPT_HE, language=HE_LANGUAGE)
    response.append(gather)
    response.say(GATHER_NO_INPUT_HE, language=HE_LANGUAGE)
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
