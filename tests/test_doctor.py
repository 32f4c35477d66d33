"""`voicectl doctor`: every configured part checked, one clear line each, exit 0 only when
everything configured is usable (against the loopback fakes, and against dead endpoints)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fakes.google_server import FakeGoogle
from fakes.openai_server import FakeOpenAI
from typer.testing import CliRunner

from voicectl.cli import app


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def _run(tmp_path: Path, yaml_text: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    cfg = tmp_path / "voicectl.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    env = {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", **(env or {})}
    r = CliRunner().invoke(app, ["doctor", "--config", str(cfg)], env=env)
    return r.exit_code, r.output


def test_offline_defaults_are_usable(tmp_path: Path) -> None:
    code, out = _run(tmp_path, f"database: {tmp_path / 'd.db'}\n")
    assert code == 0, out
    for line in ["ok   agent offline", "ok   tts espeak", "ok   vad webrtc", "ok   database"]:
        assert line in out
    assert "real callers cannot be understood" in out
    assert "extra google: installed" in out and "every configured part is usable" in out


def test_real_providers_reachable_through_the_fakes(tmp_path: Path) -> None:
    models = {"object": "list", "data": [{"id": "gpt-test", "object": "model", "created": 0}]}
    with FakeOpenAI([]) as oai, FakeGoogle(lines=["שלום"]) as google:
        oai.models = models
        code, out = _run(
            tmp_path,
            "agent: openai\nstt: google\ntts: google\nopenai_model: gpt-test\n"
            f"openai_base_url: {oai.base_url}\ngoogle_api_endpoint: {google.endpoint}\n"
            f"database: {tmp_path / 'd.db'}\n",
            env={"OPENAI_API_KEY": "sk-test"},
        )
    assert code == 0, out
    assert "ok   agent openai reachable" in out
    assert "ok   tts google reachable: voice he-IL-Wavenet-A" in out
    assert "ok   stt google reachable: model default, he-IL" in out
    assert google.streams[0].config.config.language_code == "he-IL"  # the probe's config


def test_dead_endpoints_and_missing_credentials_are_one_line_each(tmp_path: Path) -> None:
    port = _dead_port()
    code, out = _run(
        tmp_path,
        "agent: openai\nstt: google\ntts: google\n"
        f"openai_base_url: http://127.0.0.1:{port}/v1\n"
        f"google_api_endpoint: 127.0.0.1:{port}\ndatabase: {tmp_path / 'd.db'}\n",
        env={"OPENAI_API_KEY": "sk-test"},
    )
    assert code == 1
    assert "Traceback" not in out
    for role in ("agent openai", "tts google", "stt google"):
        line = next(x for x in out.splitlines() if x.startswith(f"FAIL {role} reachable"))
        assert "unreachable" in line
    code, out = _run(tmp_path, f"agent: openai\ndatabase: {tmp_path / 'd.db'}\n")
    assert code == 1 and "FAIL agent openai credentials: missing: set OPENAI_API_KEY" in out


def test_an_unknown_provider_or_a_bad_file_fails(tmp_path: Path) -> None:
    code, out = _run(tmp_path, "tts: acme\n")
    assert code == 1 and "FAIL tts acme: tts: unknown provider 'acme'" in out
    code, out = _run(tmp_path, "stt: google\ngoogle_stt_model: latest_short\n")
    assert code == 1 and "does not take Hebrew" in out
    code, _ = _run(tmp_path, "no_such_setting: 1\n")
    assert code == 2


@pytest.mark.parametrize("voice", ["he-IL-Wavenet-Z"])
def test_a_voice_google_does_not_offer_fails(tmp_path: Path, voice: str) -> None:
    with FakeGoogle() as google:
        code, out = _run(
            tmp_path,
            f"tts: google\ngoogle_tts_voice: {voice}\ngoogle_api_endpoint: {google.endpoint}\n",
        )
    assert code == 1 and f"FAIL tts google voice: voice '{voice}' not offered" in out
