"""The dashboard in a real browser (Debian's chromium driven by Playwright) against a real
``water dev`` behind a token: sign in, list, filter, open an execution, pause and resume it
with the buttons, signal it through the form, follow its nested execution both ways, and
check that every request the page made went to the server itself.

Screenshots go to a temporary folder; with ``WATER_UPDATE_SCREENSHOTS=1`` they replace
``docs/dashboard-list.png`` and ``docs/dashboard-execution.png`` (shown in the README).
Without chromium (``$WATER_CHROMIUM``, else ``chromium`` on PATH) or playwright the test is
skipped, saying which is missing, except under ``CI=true``, where it fails: ``.ci/run``
installs chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

CHROMIUM = os.environ.get("WATER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs"
TOKEN = "dashboard-test-token-6f1c"

FLOWS = """
from pydantic import BaseModel

import water
from water import FatalError, Flow, task


class Order(BaseModel):
    order_id: str
    amount: float


class Approval(BaseModel):
    approved: bool
    by: str


class Shipment(BaseModel):
    approved_by: str
    label: str = ""


@task
def reserve(order: Order) -> Order:
    return order


@task
def charge(order: Order) -> Order:
    if order.amount <= 0:
        raise FatalError(f"cannot charge an amount of {order.amount}")
    return order


@task
def pack(approval: Approval) -> Shipment:
    return Shipment(approved_by=approval.by)


@task
def print_label(shipment: Shipment) -> Shipment:
    return Shipment(approved_by=shipment.approved_by, label="LBL-1")


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def halve(n: Num) -> Num:
    return Num(value=n.value // 2)


@task
def pair(n: Num) -> list[Num]:
    return [n, n]


@task
def total(ns: list[Num]) -> Num:
    return Num(value=sum(n.value for n in ns))


def is_big(n: Num) -> bool:
    return n.value > 100


def is_small(n: Num) -> bool:
    return n.value < 3


kitchen = (
    Flow("kitchen", "every kind of stage")
    .then(inc)
    .branch([[is_big, halve], [lambda n: True, Flow("twice").then(inc).then(inc)]])
    .parallel([inc, Flow("deeper").then(Flow("deepest").then(halve))])
    .then(total)
    .while_(is_small, inc, max_iterations=5)
    .then(pair)
    .for_(inc, concurrency=2)
    .then(total)
    .sleep(0.1)
    .wait_for_signal("go")
    .then(inc)
)

first_runs: set[int] = set()


@task
def flaky(n: Num) -> Num:
    if n.value not in first_runs:  # the first run for a value fails, the next ones do not
        first_runs.add(n.value)
        raise FatalError(f"the first run for {n.value} fails")
    return Num(value=n.value * 3)


retried = Flow("flaky", "fails on its first run").then(inc).then(flaky)


@water.workflow(id="stepper")
async def stepper(n: Num) -> Num:
    a = await inc(n)
    await water.wait_for_signal("go")
    return await halve(a)


shipping = Flow("shipping", "pack and label").then(pack).then(print_label)
orders = (
    Flow("orders", "reserve, charge, wait for approval, ship")
    .then(reserve)
    .then(charge)
    .wait_for_signal("approve", Approval)
    .then(shipping)
)
"""


def browser_missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_available() -> None:
    missing = browser_missing()
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the dashboard's browser test must run under CI: {missing}")
    pytest.skip(missing)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    http: httpx.Client

    def start(self, order: dict) -> str:
        answer = self.http.post("/flows/orders/execute", json=order)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["execution_id"])

    def wait_for(self, execution_id: str, status: str) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.http.get(f"/sessions/{execution_id}").json()["status"] == status:
                return
            time.sleep(0.05)  # an external process: polled over HTTP
        raise AssertionError(f"{execution_id} never became {status}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    (folder / "flows.py").write_text(textwrap.dedent(FLOWS))
    port = free_port()
    log = folder / "dev.log"
    env = {**os.environ, "WATER_API_TOKEN": TOKEN}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "water.cli", "dev", "flows.py"),
                *("--port", str(port), "--db", str(folder / "water.db"), "--log-level", "warning"),
            ],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if http.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)  # an external process is starting
        yield Server(url, http)
    finally:
        http.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@dataclass
class Browser:
    context: Any
    requests: list[str]
    errors: list[str]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    assert sync_playwright is not None
    expect.set_options(timeout=10_000)  # a loaded machine: waits end as soon as the page is right
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")),  # a fresh user-data-dir
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
            viewport={"width": 1280, "height": 900},
            color_scheme="light",
        )
        opened = Browser(context, [], [])
        context.on("request", lambda request: opened.requests.append(request.url))
        try:
            yield opened
        finally:
            context.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A new tab; every request it makes and every script error are recorded and checked."""
    browser.requests.clear()
    browser.errors.clear()
    tab = browser.context.new_page()
    tab.on("pageerror", lambda error: browser.errors.append(str(error)))
    tab.on("console", lambda message: console_error(message, browser.errors))
    try:
        yield tab
    finally:
        tab.close()
    assert browser.errors == []
    hosts = {urlsplit(url).netloc for url in browser.requests}
    assert hosts <= {urlsplit(server.url).netloc}, browser.requests


def console_error(message: Any, errors: list[str]) -> None:
    """Record errors the page logs (a refused Content-Security-Policy among them), but not
    the answers with an error status that the page expects and handles (the first 401)."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


def sign_in(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = DOCS if os.environ.get("WATER_UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)
    assert (folder / name).stat().st_size > 10_000


def test_an_operator_finds_pauses_resumes_and_signals_an_execution(server, page, tmp_path):
    waiting = server.start({"order_id": "A-1", "amount": 40})
    failed = server.start({"order_id": "A-2", "amount": 0})
    server.wait_for(waiting, "waiting")
    server.wait_for(failed, "failed")

    # the page needs the token, which it asks for and keeps out of the page
    sign_in(page, f"{server.url}/ui")

    # the list: both executions, newest first; the status filter narrows it
    rows = page.locator("table.list tbody tr")
    expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(failed)
    expect(rows.nth(0)).to_contain_text("cannot charge an amount of 0.0")
    page.get_by_label("Status").select_option("waiting")
    expect(rows).to_have_count(1)
    expect(rows.nth(0)).to_contain_text(waiting)
    page.get_by_label("Flow").select_option("orders")
    expect(rows).to_have_count(1)
    page.get_by_label("Status").select_option("")
    expect(rows).to_have_count(2)

    # its page: status, input, the flow's graph; then steering with the buttons
    page.get_by_role("link", name=waiting).click()
    status = page.locator("#execution-status")
    expect(page.get_by_role("heading", name=f"Execution {waiting}")).to_be_visible()
    expect(status).to_have_text("waiting")
    expect(page.get_by_role("region", name="Input")).to_contain_text('"order_id": "A-1"')
    graph = page.get_by_role("img", name="Graph of flow orders")
    expect(graph.locator("[data-label='charge']")).to_have_class("node shape-box st-completed")
    expect(graph.locator("[data-label='flow shipping']")).to_be_visible()

    page.get_by_role("button", name="Pause", exact=True).click()
    expect(status).to_have_text("paused")
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_disabled()
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(status).to_have_text("waiting")
    expect(page.locator("table.events")).to_contain_text("resumed")

    expect(page.get_by_label("Signal name")).to_have_value("approve")  # what it waits for
    page.get_by_label("Payload (JSON)").fill('{"approved": true, "by": "ana"}')
    page.get_by_role("button", name="Send signal").click()
    expect(status).to_have_text("completed")
    expect(page.get_by_role("region", name="Output")).to_contain_text('"approved_by": "ana"')
    expect(page.locator("table.steps tbody tr")).to_have_count(3)  # reserve, charge, shipping
    for button in ("Pause", "Resume", "Cancel"):
        expect(page.get_by_role("button", name=button, exact=True)).to_be_disabled()

    # the nested execution, linked both ways
    page.get_by_role("link", name="nested execution").click()
    child = f"{waiting}/3.shipping"
    expect(page.get_by_role("heading", name=f"Execution {child}")).to_be_visible()
    expect(page.locator("#execution-status")).to_have_text("completed")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=waiting).click()
    expect(page.get_by_role("heading", name=f"Execution {waiting}")).to_be_visible()
    expect(page.locator("table.events")).to_contain_text("execution_completed")
    screenshot(page, "dashboard-execution.png", tmp_path)

    # back to the list: the finished execution, its nested one and the failed one
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Executions").click()
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(child)
    expect(rows.nth(0).get_by_role("link", name=waiting, exact=True)).to_be_visible()  # its parent
    screenshot(page, "dashboard-list.png", tmp_path)

    assert TOKEN not in page.content()  # every request went to the server: see the fixture


def test_an_execution_page_shows_what_happens_elsewhere_as_it_is_committed(server, page):
    waiting = server.start({"order_id": "B-1", "amount": 5})
    server.wait_for(waiting, "waiting")
    # the page follows the execution's event stream rather than polling it
    with page.expect_request(lambda request: "/events?follow=true" in request.url):
        sign_in(page, f"{server.url}/ui/#/executions/{waiting}")
    status = page.locator("#execution-status")
    expect(status).to_have_text("waiting")

    sent = server.http.post(
        f"/sessions/{waiting}/signal/approve", json={"approved": True, "by": "bo"}
    )  # not from the page
    assert sent.status_code == 200
    expect(status).to_have_text("completed")
    expect(page.get_by_role("region", name="Output")).to_contain_text('"approved_by": "bo"')
    expect(page.locator("table.events")).to_contain_text("execution_completed")


def test_the_graph_draws_every_node_edge_and_subgraph_of_the_mermaid_text(server, page):
    execution = server.http.post("/flows/kitchen/execute", json={"value": 1}).json()
    server.wait_for(execution["execution_id"], "waiting")
    mermaid = server.http.get("/flows/kitchen/graph").json()["mermaid"]
    labels = re.findall(r'^\s*n\d+[\[{(/]+"(.*)"[\]})/]+$', mermaid, re.MULTILINE)
    edges = re.findall(r"^\s*n\d+ -->", mermaid, re.MULTILINE)
    subgraphs = re.findall(r"^\s*subgraph ", mermaid, re.MULTILINE)
    assert len(labels) >= 20 and len(subgraphs) == 3

    sign_in(page, f"{server.url}/ui/#/executions/{execution['execution_id']}")
    graph = page.get_by_role("img", name="Graph of flow kitchen")
    expect(graph.locator("g.node")).to_have_count(len(labels))
    expect(graph.locator("path.edge")).to_have_count(len(edges))
    expect(graph.locator("g.cluster")).to_have_count(len(subgraphs))
    drawn = graph.locator("g.node text").all_text_contents()
    assert sorted(drawn) == sorted(label.replace("#quot;", '"') for label in labels)
    expect(graph.locator("[data-label=\"wait for signal 'go'\"]")).to_have_class(
        "node shape-slanted st-waiting"
    )
    expect(graph.locator("[data-label='flow twice']")).to_have_class("cluster st-completed")
    # no two nodes overlap
    boxes = [graph.locator("g.node").nth(i).bounding_box() for i in range(len(labels))]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            ), (a, b)

    # the keyboard works the buttons; Cancel asks first
    status = page.locator("#execution-status")
    page.get_by_role("button", name="Pause", exact=True).focus()
    page.keyboard.press("Enter")
    expect(status).to_have_text("paused")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_enabled()
    expect(status).to_have_text("paused")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel", exact=True).click()
    expect(status).to_have_text("cancelled")


def test_an_operator_retries_a_failed_execution_then_forks_it(server, page):
    answer = server.http.post("/flows/flaky/execute", json={"value": 7})
    execution_id = answer.json()["execution_id"]
    server.wait_for(execution_id, "failed")

    sign_in(page, f"{server.url}/ui/#/executions/{execution_id}")
    status = page.locator("#execution-status")
    expect(status).to_have_text("failed")
    for button in ("Pause", "Resume", "Cancel"):
        expect(page.get_by_role("button", name=button, exact=True)).to_be_disabled()
    page.get_by_role("button", name="Retry", exact=True).click()
    expect(status).to_have_text("completed")  # followed again until it finishes
    expect(page.get_by_role("button", name="Retry", exact=True)).to_be_disabled()
    expect(page.locator("table.events")).to_contain_text("execution_retried")
    expect(page.get_by_role("region", name="Output")).to_contain_text('"value": 24')

    page.get_by_label("From step").select_option("1.flaky")
    page.get_by_role("button", name="Fork", exact=True).click()
    summary = page.locator("dl.summary")
    expect(summary).to_contain_text("Forked from")
    expect(page.get_by_role("heading", name=f"Execution {execution_id}")).not_to_be_visible()
    expect(page.locator("#execution-status")).to_have_text("completed")
    summary.get_by_role("link", name=execution_id).click()
    expect(page.get_by_role("heading", name=f"Execution {execution_id}")).to_be_visible()


def test_a_workflows_graph_is_what_its_execution_recorded_as_it_goes(server, page):
    answer = server.http.post("/flows/stepper/execute", json={"value": 4})
    execution_id = answer.json()["execution_id"]
    server.wait_for(execution_id, "waiting")
    sign_in(page, f"{server.url}/ui/#/executions/{execution_id}")
    graph = page.get_by_role("img", name="Graph of workflow stepper as this execution recorded it")
    expect(graph.locator("[data-label='inc']")).to_have_class("node shape-box st-completed")
    expect(graph.locator("[data-label=\"wait for signal 'go'\"]")).to_have_class(
        "node shape-slanted st-waiting"
    )
    expect(graph.locator("[data-label='halve']")).to_have_count(0)  # not called yet

    sent = server.http.post(f"/sessions/{execution_id}/signal/go", json=None)  # not from the page
    assert sent.status_code == 200, sent.text
    expect(page.locator("#execution-status")).to_have_text("completed")
    graph = page.get_by_role("img", name="Graph of workflow stepper as this execution recorded it")
    expect(graph.locator("[data-label='halve']")).to_have_class("node shape-box st-completed")
    expect(graph.locator("g.node")).to_have_count(5)  # start, inc, the wait, halve, end
