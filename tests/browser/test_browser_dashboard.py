"""End-to-end: the dashboard in Debian's chromium (headless, Playwright, no network).

Loads the map, filters, opens an event, logs in as commissioner and votes on a case,
checks that a public visitor cannot reach restricted data; saves screenshots of the main
pages under artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from browser.conftest import shot
from browser.support import DAY

pytestmark = pytest.mark.browser


def wait_map(page, server, path="/"):
    page.goto(server.url + path)
    page.wait_for_selector("#map[data-ready='1'][data-loading='0']")
    page.wait_for_function("document.getElementById('map-status').textContent.includes('events')")


def login(page, server, name):
    page.goto(server.url + "/login")
    page.fill("#login-name", name)
    page.fill("#login-password", f"{name}-demo")
    page.click("#login-submit")
    page.wait_for_url(server.url + "/")
    page.wait_for_selector("#map[data-ready='1']")


def drawn(page, cls: str = "") -> int:
    """Events drawn as markers (a marker may stack several events at one position)."""
    return page.evaluate(f"[...document.querySelectorAll('#g-events circle.ev{cls}')]"
                         ".reduce((s, c) => s + Number(c.dataset.n), 0)")


def api_total(page, query: str) -> int:
    return page.evaluate(f"fetch('/api/events?{query}').then(r => r.json()).then(d => d.total)")


def test_map_loads_and_filters(page, server):
    wait_map(page, server)
    # the geometry is drawn: two territories, the line, exclusion bands
    assert page.locator("#g-terr path").count() == 2
    assert page.locator("#g-line path").count() >= 1
    assert page.locator("#g-bands path").count() >= 2
    n_day = int(page.get_attribute("#map", "data-total"))
    assert n_day == api_total(page, f"day={DAY}") > 0
    assert drawn(page) == n_day
    assert page.locator("#sum-events").inner_text() == str(n_day)
    shot(page, "map_public")
    # filter: launches only
    for t in page.locator("#f-types input").all():
        if t.get_attribute("value") != "launch":
            t.uncheck()
    n_launch = api_total(page, f"day={DAY}&type=launch")
    assert 0 < n_launch < n_day
    page.wait_for_function(f"document.getElementById('map').dataset.total == '{n_launch}'")
    assert drawn(page) == drawn(page, ".t-launch") == n_launch
    # violations only
    page.check("#f-viol")
    n_viol = api_total(page, f"day={DAY}&type=launch&violations=true")
    assert n_viol < n_launch
    page.wait_for_function(f"document.getElementById('map').dataset.total == '{n_viol}'")
    page.wait_for_timeout(200)
    assert page.locator("#g-events circle.ok").count() == 0
    shot(page, "map_filtered")


def test_zoom_and_pan_reload_the_view(page, server):
    wait_map(page, server)
    vb0 = page.get_attribute("#map", "viewBox")
    page.click("#zoom-in")
    page.click("#zoom-in")
    page.wait_for_function(f"document.getElementById('map').getAttribute('viewBox') != '{vb0}'")
    w0, w1 = float(vb0.split()[2]), float(page.get_attribute("#map", "viewBox").split()[2])
    assert w1 == pytest.approx(w0 / 4, rel=1e-6)
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 400, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 600, box["y"] + 350, steps=5)
    page.mouse.up()
    page.wait_for_selector("#map[data-loading='0']")
    total = int(page.get_attribute("#map", "data-total"))
    assert total < api_total(page, f"day={DAY}")  # only what is in view
    page.click("#zoom-reset")
    page.wait_for_function(f"document.getElementById('map').getAttribute('viewBox') == '{vb0}'")


def test_open_event_public_detail(page, server, bworld):
    wait_map(page, server)
    page.locator("#g-events circle.viol").first.click(force=True)
    page.wait_for_selector("#detail:not([hidden]) #detail-table")
    body = page.inner_text("#detail-body")
    assert "cell centre" in body and "(95 %, circle)" in body
    assert page.locator("#sel-uncertainty").evaluate("e => e.tagName") == "circle"
    assert page.locator("#evidence").count() == 0
    page.click("#zoom-event")
    page.wait_for_timeout(500)
    html = page.content()
    for f in bworld["features"]:
        assert f["properties"]["id"] not in html
        for r in f["properties"]["reports"]:
            assert r not in html
    shot(page, "event_public")


def test_public_visitor_cannot_reach_restricted_data(page, server, bworld):
    wait_map(page, server)
    raw = bworld["features"][0]["properties"]["id"]
    codes = page.evaluate(
        """async ([raw, day, kase]) => {
            const s = async (u, o) => (await fetch(u, o)).status;
            return [await s('/api/audit'), await s('/api/events/' + raw),
                    await s('/reports/daily/' + day + '?edition=restricted'),
                    await s('/api/cases/' + kase + '/actions', {method: 'POST',
                            headers: {'Content-Type': 'application/json'},
                            body: JSON.stringify({action: 'vote', choice: 'yes'})})];
        }""",
        [raw, DAY, bworld["cases"][0]],
    )
    assert codes == [401, 404, 401, 401]
    page.goto(server.url + "/audit")
    assert "Not allowed" in page.inner_text("main")
    page.goto(server.url + "/commission")
    page.wait_for_timeout(300)
    assert page.locator("#case-table tr.click").count() == 0  # nothing published yet
    assert page.locator("#case-actions:not([hidden])").count() == 0


def test_analyst_sees_ellipse_and_evidence(page, server):
    login(page, server, "analyst")
    wait_map(page, server)
    page.locator("#g-events circle.viol").first.click(force=True)
    page.wait_for_selector("#detail:not([hidden]) #evidence li")
    assert page.locator("#sel-uncertainty").evaluate("e => e.tagName") == "ellipse"
    assert "ellipse" in page.inner_text("#detail-body")
    ev = page.inner_text("#evidence")
    assert "leaf" in ev and "signed tree head" in ev  # inclusion proofs from the evidence log
    vb0 = page.get_attribute("#map", "viewBox")
    page.click("#zoom-event")
    page.wait_for_function(f"document.getElementById('map').getAttribute('viewBox') != '{vb0}'")
    page.wait_for_timeout(400)
    box = page.locator("#sel-uncertainty").bounding_box()
    assert box["width"] > 20 and box["height"] > 20  # the ellipse is visible at event zoom
    shot(page, "event_analyst")


def test_commissioner_votes_on_a_case(page, server, bworld):
    case = bworld["cases"][1]
    # the chair puts the case under review (opens a motion)
    login(page, server, "chair")
    page.goto(f"{server.url}/commission?case={case}")
    page.wait_for_selector("#case-actions:not([hidden]) #review-form:not([hidden])")
    page.select_option("#review-kind", "finding")
    page.fill("#review-reason", "violations grouped for review")
    page.click("#review-submit")
    page.wait_for_selector("#action-msg.ok-msg")
    page.wait_for_function("document.getElementById('case-body').textContent.includes('under_review')")
    page.click("#logout")
    page.wait_for_url(server.url + "/")
    # a member votes
    login(page, server, "commissioner")
    page.goto(f"{server.url}/commission?case={case}")
    page.wait_for_selector("#vote-form:not([hidden])")
    page.select_option("#vote-choice", "yes")
    page.fill("#vote-reason", "attribution above threshold")
    page.click("#vote-submit")
    page.wait_for_selector("#action-msg.ok-msg")
    page.wait_for_function("document.querySelector('#motion-table .votes') && "
                           "document.querySelector('#motion-table .votes').textContent.includes('FR: yes')")
    shot(page, "commission_vote")
    # the vote is in the audit trail, seen by the admin
    page.click("#logout")
    page.wait_for_url(server.url + "/")
    login(page, server, "admin")
    page.goto(server.url + "/audit")
    text = page.inner_text("#audit-table")
    assert "case.vote" in text and case in text and "case.review" in text
    shot(page, "audit")


def test_coalition_and_docs_pages(page, server):
    page.goto(server.url + "/coalition")
    assert page.locator("#pledge-table tr").count() > 2
    assert page.inner_text("#gap-firm").replace(",", "").lstrip("-").isdigit()
    shot(page, "coalition")
    page.goto(server.url + "/docs")
    assert "/api/events" in page.inner_text("#api-table")
    shot(page, "api_docs")
    page.goto(f"{server.url}/reports/daily/{DAY}")
    assert "PUBLIC EDITION" in page.inner_text("body")
    page.wait_for_timeout(200)
    shot(page, "daily_report_public")


def test_grid_aggregation_in_the_browser(browser_ctx, bworld):
    """With more events in view than the map draws, it shows clickable cells that zoom in."""
    from browser.support import ServerThread
    from truceline.web import create_app

    app = create_app(events=bworld["events"], context=bworld["ctx"], max_points=40)
    with ServerThread(app) as srv:
        pg = browser_ctx.new_page()
        try:
            wait_map(pg, srv)
            assert pg.get_attribute("#map", "data-mode") == "grid"
            cells = pg.locator("#g-events circle.cell")
            assert cells.count() > 3
            shot(pg, "map_grid")
            vb0 = pg.get_attribute("#map", "viewBox")
            cells.first.click(force=True)
            pg.wait_for_function(f"document.getElementById('map').getAttribute('viewBox') != '{vb0}'")
        finally:
            pg.close()


def show_only(page, bworld, event_type: str) -> None:
    """Filter the map to every day of the world and one event type; wait until all are drawn."""
    days = sorted({f["properties"]["time"][:10] for f in bworld["features"]})
    n = sum(f["properties"]["type"] == event_type for f in bworld["features"])
    page.fill("#f-start", days[0])
    page.fill("#f-end", days[-1])
    for t in page.locator("#f-types input").all():
        if t.get_attribute("value") != event_type:
            t.uncheck()
    page.wait_for_function(f"document.getElementById('map').dataset.total == '{n}'")
    page.wait_for_selector("#map[data-loading='0']")


def test_stacked_events_open_as_a_list(page, server, bworld):
    """Events at one position (a monitor's post) share a marker that lists them all."""
    monitors = [s for s in bworld["sensors"] if s["kind"] == "monitor"]
    reports = [f for f in bworld["features"] if f["properties"]["type"] == "monitor_report"]
    assert 0 < len(monitors) < len(reports)  # so at least two reports share a post
    wait_map(page, server)
    show_only(page, bworld, "monitor_report")
    assert drawn(page) == len(reports)
    stack = page.locator("#g-events circle.stack").first
    n = int(stack.get_attribute("data-n"))
    assert n >= 2
    stack.click(force=True)
    page.wait_for_selector("#stack-list")
    assert page.locator("#stack-list button").count() == n
    second = page.locator("#stack-list button").nth(1).get_attribute("data-ev")
    page.locator("#stack-list button").nth(1).click()
    # the list is rebuilt when the second event's detail arrives; wait for that, not the old list
    page.wait_for_selector(f"#stack-list button.on[data-ev='{second}']")
    assert page.inner_text("#detail-table tr:first-child td") == second


def test_analyst_sees_what_a_sighting_needs_to_be_confirmed(page, server, bworld):
    """A doubtful sighting whose position breaks a rule shows its confidence and the rule to
    confirm in the analyst's detail panel."""
    doubt = [f["properties"] for f in bworld["features"] if f["properties"].get("violations_to_confirm")]
    assert doubt
    login(page, server, "analyst")
    wait_map(page, server)
    show_only(page, bworld, "weapon_sighting")
    page.locator(f"#g-events circle[data-id='{doubt[0]['id']}']").click(force=True)
    page.wait_for_selector("#detail:not([hidden]) #detail-table")
    body = page.inner_text("#detail-body")
    assert "to confirm" in body and doubt[0]["violations_to_confirm"][0] in body
    assert f"{doubt[0]['confidence']:.2f}" in body
