"""The web console in a real browser: Debian's headless Chromium, driven by playwright, against a
gateway (fake upstream) that the official openai SDK sends traffic through. One gateway for the
module. Each test saves a screenshot (pytest's tmp dir; copied to `$PLANO_CONSOLE_SHOTS` when set:
the ones in docs/console/ come from there).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from plano.config import load_config_text
from plano.runtime.serve import ThreadedGateway, gateway_in_thread
from tests.integration.test_signals_gateway import CORRECTION, chat_conversation

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium (apt-get install chromium; .ci/run does)",
    ),
]

if CHROMIUM.exists():
    from playwright.sync_api import Browser, Page, expect, sync_playwright
else:  # pragma: no cover - the module is skipped
    Browser = Page = Any


def config_text(base_url: str) -> str:
    return f"""
version: v0.4.0
overrides: {{signals_cpu_budget: 1.0}}
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:
  - model: mistral/mistral-large
    access_key: sk-upstream-secret-console
    base_url: {base_url}
    default: true
  - model: openai/gpt-4o-mini
    access_key: sk-other-secret-console
    base_url: {base_url}
model_aliases:
  fast: {{target: openai/gpt-4o-mini}}
"""


@pytest.fixture(scope="module")
def gw(_mock_session: Any) -> Iterator[ThreadedGateway]:
    _mock_session.clear()
    config = load_config_text(config_text(_mock_session.base_url), source="console.yaml", env={})
    with gateway_in_thread(config) as handle:
        with openai.OpenAI(base_url=f"{handle.url()}/v1", api_key="k", max_retries=0) as c:
            c.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hi"}])
            stream = c.chat.completions.create(
                model="mistral-large", messages=[{"role": "user", "content": "hello"}], stream=True
            )
            for _ in stream:
                pass
            _mock_session.script({"status": 404, "message": "no such deployment"})
            with pytest.raises(openai.NotFoundError):
                c.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
            c.chat.completions.create(model="mistral-large", messages=chat_conversation())  # type: ignore[arg-type]
        yield handle
    _mock_session.clear()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=20_000)  # auto-waiting bound on a slow, shared CI host
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, gw: ThreadedGateway) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 600})
    pg = context.new_page()
    pg.goto(f"{gw.admin_url}/")
    yield pg
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-shots")


def shoot(page: Page, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 0
    target = os.environ.get("PLANO_CONSOLE_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def rows(page: Page) -> Any:
    return page.locator("#requests tbody tr")


def test_live_requests_appear_and_filter(page: Page, shots: Path) -> None:
    expect(rows(page)).to_have_count(4)
    served = rows(page).filter(has_text="fast → openai/gpt-4o-mini").filter(has_text="200")
    expect(served).to_have_count(1)
    expect(served.locator("td").nth(5)).to_have_text("200")
    expect(rows(page).locator(".flag.stream")).to_have_count(1)
    expect(rows(page).filter(has_text="404")).to_have_count(1)
    shoot(page, shots, "requests")
    page.fill("#filter", "gpt-4o-mini 200")
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#count")).to_have_text("1 of 4 requests")
    page.fill("#filter", "404")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("upstream_status")
    page.fill("#filter", "4xx")
    expect(rows(page)).to_have_count(1)
    page.fill("#filter", "")
    expect(rows(page)).to_have_count(4)
    page.click("#pause")
    expect(page.locator("#pause")).to_have_text("Resume")
    expect(page.locator("#status")).to_have_text("paused")


def test_detail_shows_trace_and_routing(page: Page, shots: Path) -> None:
    rows(page).filter(has_text="fast → openai/gpt-4o-mini").filter(has_text="200").click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    trace = page.locator("#detail-trace .span")
    expect(trace.first).to_contain_text("request")
    expect(page.locator("#detail-trace")).to_contain_text("upstream")
    expect(page.locator("#detail-routing")).to_contain_text("alias")
    expect(page.locator("#detail-attempts")).to_contain_text("200")
    expect(page.locator("#detail-signals")).to_contain_text("neutral")
    shoot(page, shots, "detail")


def test_flagged_conversation_shows_signals(page: Page, shots: Path) -> None:
    flagged = rows(page).filter(has=page.locator(".flag.signals"))
    expect(flagged).to_have_count(1)
    flagged.click()
    signals = page.locator("#detail-signals")
    expect(signals.locator("dd").nth(1)).to_have_text("yes")
    expect(signals).to_contain_text("interaction.disengagement.escalation")
    expect(signals).to_contain_text("interaction.misalignment.correction")
    expect(signals.locator(".snippet").filter(has_text="human")).not_to_have_count(0)
    expect(signals.locator(".snippet").filter(has_text=CORRECTION[:20])).not_to_have_count(0)
    signals.scroll_into_view_if_needed()
    shoot(page, shots, "signals")


def test_summary_and_config_pages(page: Page, shots: Path) -> None:
    page.click("nav button[data-tab=summary]")
    models = page.locator("#summary-models tr")
    expect(models.filter(has_text="mistral/mistral-large")).to_contain_text("2")
    expect(models.filter(has_text="openai/gpt-4o-mini")).to_contain_text("50.0%")
    expect(page.locator("#summary-routes")).to_contain_text("alias")
    shoot(page, shots, "summary")
    page.click("nav button[data-tab=keys]")
    expect(page.locator("#keys-note")).to_contain_text("Access control is off")
    page.click("nav button[data-tab=config]")
    config = page.locator("#config")
    expect(config).to_contain_text('"access_key": "***"')
    expect(config).not_to_contain_text("sk-upstream-secret-console")
    expect(page.locator("#config-meta")).to_contain_text("console.yaml")
    shoot(page, shots, "config")
