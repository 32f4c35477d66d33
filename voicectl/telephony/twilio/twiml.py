"""TwiML the bridge answers with, built with the `twilio` library (TWILIO.md: TwiML)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

#: Hebrew prompts of the `<Gather>` fallback (SEEDS.md seed 000 item 1, path B).
GATHER_PROMPT_HE = "הקישו את מספר הטלפון ואחר כך סולמית"
GATHER_NO_INPUT_HE = "לא התקבל קלט. ננסה שוב בהמשך."
HE_LANGUAGE = "he-IL"


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


def empty() -> str:
    """An empty `<Response/>` (status callbacks)."""
    return str(VoiceResponse())
