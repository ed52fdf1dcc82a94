"""The lecture's chart specs: what a projector needs beyond the numbers themselves."""

from ui.lecture import figures


def test_size_chart_leaves_room_for_the_longest_bars_label():
    # At 1280x720 the label "1.57" beside the longest bar was cut at the chart's edge.
    rows = [{"span": "Mr.", "value": 0.25}, {"span": "Robert", "value": 1.57}]
    spec, data = figures.size_chart(rows, ["Mr.", "Robert"])
    x = spec["layer"][0]["encoding"]["x"]
    assert x["scale"]["domainMax"] >= 1.57 * 1.25
    assert [row["shown"] for row in data] == ["0.25", "1.57"]


def test_size_chart_of_all_zero_gradients_still_has_an_axis():
    spec, _ = figures.size_chart([{"span": "Mr.", "value": 0.0}], ["Mr."])
    assert spec["layer"][0]["encoding"]["x"]["scale"]["domainMax"] > 0
