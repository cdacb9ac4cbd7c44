from hypothesis import given
from hypothesis import strategies as st

from cxray.analysis._common import fmt_interval, fmt_num


def test_intervals_get_the_digits_that_show_them():
    assert fmt_interval(1.06, 1.017, 1.103, "en", 1, reference=1.0) == ("1.06", "1.02–1.10")
    assert fmt_interval(2.0, 1.5, 2.7, "nl", 1, reference=1.0) == ("2,0", "1,5–2,7")
    assert fmt_interval(0.004, 0.000267, 0.0508, "en", 1, reference=1.0)[1] == "0.0003–0.0508"
    assert fmt_interval(0.001, 0.0002, 0.004, "en", percent=True)[1] == "0.02%–0.40%"
    assert fmt_interval(3.0, 2.0, float("inf"), "en", 1)[1] == "2.0–not bounded"
    assert fmt_num(-0.0001, "en", 1) == "0.0"


@given(
    st.floats(0.01, 50),
    st.floats(0.001, 0.5),
    st.floats(0.001, 0.5),
)
def test_an_interval_that_excludes_one_never_reads_as_touching_it(centre, below, above):
    lower, upper = centre * (1 - below), centre * (1 + above)
    _, bounds = fmt_interval(centre, lower, upper, "en", 1, reference=1.0)
    low_text, high_text = bounds.split("–")
    # up to four decimals: a bound further from 1 than that never rounds onto it
    if lower > 1.0001 or upper < 0.9999:
        assert 1.0 not in (float(low_text), float(high_text))
    if lower > 0.0001:
        assert float(low_text) > 0
