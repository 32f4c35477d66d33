"""The provider registry: names, extras, entry points, fallbacks, one instance per process."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from media_client import start_msg, stream_of

from voicectl import providers
from voicectl.config import Settings
from voicectl.providers import ProviderError, Providers
from voicectl.runtime import Runtime
from voicectl.sim.runner import InProcessServer


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    providers.reset_for_tests()
    yield
    providers.reset_for_tests()


def test_defaults_are_the_offline_providers(tmp_path: Path) -> None:
    p = Providers(Settings(database=str(tmp_path / "x.db")))
    assert p.names == {"agent": "offline", "stt": "none", "tts": "espeak", "vad": "webrtc"}
    assert p.agent.name == "offline" and p.tts.name == "espeak-ng" and p.stt.name == "none"
    assert p.new_vad() is not p.new_vad()  # a VAD per call: they keep state
    assert p.describe() == "providers: agent=offline stt=none tts=espeak vad=webrtc"


def test_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(ProviderError, match=r"tts: unknown provider 'acme'; known: .*google"):
        Providers(Settings(tts="acme"))


def test_a_missing_extra_fails_at_start_up_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(providers.EXTRAS, "google", ("voicectl_test_not_installed",))
    with pytest.raises(ProviderError) as err:
        Providers(Settings(stt="google"))
    assert str(err.value) == "stt: google needs the google extra: pip install 'voicectl[google]'"
    assert providers.construction_counts() == {}  # nothing was built before the check


def test_serve_with_a_missing_extra_exits_2_with_one_line(tmp_path: Path) -> None:
    code = (
        "import sys; from voicectl import providers, cli;"
        "providers.EXTRAS['openai'] = ('voicectl_test_not_installed',);"
        "sys.argv = ['voicectl', 'serve', '--port', '0'];"
        "cli.main()"
    )
    env = {"PATH": "/usr/bin:/bin", "VOICECTL_AGENT": "openai", "COLUMNS": "200"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "pip install 'voicectl[openai]'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _third_party(tmp_path: Path, body: str) -> Path:
    """A tiny installed distribution registering `tts.acme` through the entry-point group."""
    sys.modules.pop("acme_voicectl", None)
    (tmp_path / "acme_voicectl.py").write_text(textwrap.dedent(body), encoding="utf-8")
    dist = tmp_path / "acme_voicectl-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-voicectl\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[voicectl.providers]\ntts.acme = acme_voicectl:AcmeTTS\nbogus = acme_voicectl:AcmeTTS\n"
    )
    return tmp_path


def test_third_party_providers_register_through_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(
        str(
            _third_party(
                tmp_path,
                """
                import numpy as np
                class AcmeTTS:
                    name = "acme"
                    sample_rate = 8000
                    def __init__(self, settings=None):
                        self.settings = settings
                    @classmethod
                    def from_settings(cls, settings):
                        return cls(settings)
                    def synthesize(self, text):
                        yield np.zeros(160, np.int16)
                    def warmup(self):
                        pass
                """,
            )
        )
    )
    assert ("tts", "acme") in providers.registry()
    p = Providers(Settings(tts="acme"))
    assert p.names["tts"] == "acme" and p.tts.name == "acme"
    assert p.tts.settings.tts == "acme"  # built through from_settings


def test_a_provider_that_fails_to_start_falls_back_to_offline_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.syspath_prepend(
        str(
            _third_party(
                tmp_path,
                """
                class AcmeTTS:
                    def __init__(self):
                        raise RuntimeError("no licence for acme")
                """,
            )
        )
    )
    with caplog.at_level(logging.WARNING, logger="voicectl.providers"):
        p = Providers(Settings(tts="acme"))
    assert p.names["tts"] == "espeak" and p.tts.name == "espeak-ng"
    assert "no licence for acme" in p.fallbacks["tts"]
    assert any("could not be created" in r.getMessage() for r in caplog.records)
    assert "tts=espeak (fallback: acme failed)" in p.describe()


def test_providers_are_built_once_per_process_even_from_many_threads(tmp_path: Path) -> None:
    s = Settings(database=str(tmp_path / "x.db"))
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        agents = list(pool.map(lambda _: providers.shared("agent", "offline", s), range(32)))
    assert all(a is agents[0] for a in agents)
    rts = [Runtime(s) for _ in range(3)]
    assert all(rt.agent is agents[0] and rt.tts is rts[0].tts for rt in rts)
    assert providers.construction_counts()[("agent", "offline")] == 1


async def _short_call(base: str, n: int) -> None:
    call_sid = f"CAprov{n:04d}"
    form = {"CallSid": call_sid, "From": "+972501234567", "To": "+97233000000"}
    twiml = httpx.post(f"{base}/voice", data=form).text
    url, params = stream_of(twiml)
    sid = f"MZprov{n}"
    async with websockets.connect(url) as ws:
        await ws.send(start_msg(call_sid, sid, params))
        while json.loads(await asyncio.wait_for(ws.recv(), 10))["event"] != "media":
            pass  # the greeting's first frame: agent and TTS ran for this call
        await ws.send(json.dumps({"event": "stop", "streamSid": sid, "stop": {}}))


def test_twenty_calls_build_each_provider_once_and_metrics_say_so(tmp_path: Path) -> None:
    with InProcessServer(Settings(database=str(tmp_path / "srv.db"))) as srv:

        async def calls() -> None:
            for n in range(20):
                await _short_call(srv.http_base, n)

        asyncio.run(calls())
        time.sleep(0.2)
        text = httpx.get(f"{srv.http_base}/metrics").text
    line = r'voicectl_provider_constructions_total\{(role="\w+",name="[\w-]+")\} (\d+)'
    counters = dict(re.findall(line, text))
    assert counters == {
        'role="agent",name="offline"': "1",
        'role="stt",name="none"': "1",
        'role="tts",name="espeak"': "1",
        'role="vad",name="webrtc"': "1",
    }


def test_the_readme_deployment_example_is_a_valid_configuration(tmp_path: Path) -> None:
    from voicectl.config import load_settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("A complete `voicectl.yaml` for a real deployment:")[1]
    yaml_text = block.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = tmp_path / "voicectl.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    s = load_settings(cfg, environ={})
    assert (s.agent, s.stt, s.tts, s.vad) == ("openai", "google", "google", "webrtc")
    assert s.google_tts_voice.startswith("he-IL-") and s.google_stt_model == "default"
