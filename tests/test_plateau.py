import numpy as np
import pytest

from featviz.plateau import Plateau, budget, describe_steps, plateau_step
from featviz.settings import validate_section


def test_the_plateau_is_where_the_rise_over_the_window_is_within_tolerance():
    steps = np.arange(0, 201, 10)
    trace = np.minimum(steps, 100) / 100.0  # rises to step 100, then flat
    assert plateau_step(steps, trace, window=20, tolerance=0.01) == 100
    assert plateau_step(steps[:12], trace[:12], window=20, tolerance=0.01) is None  # not seen
    assert plateau_step(steps, trace, window=20, tolerance=0.5) == 40  # 0.4 -> 0.6 is 50 %
    assert Plateau(20, 0.01, 10).reached(steps, np.stack([trace, np.ones_like(trace)]))
    assert not Plateau(20, 0.01, 10).reached(steps[:12], np.stack([trace[:12]] * 2))


def test_a_studys_steps_become_the_render_loops_budget():
    fixed = validate_section("filters", {"steps": 300})
    assert budget(fixed) == {"steps": 300, "until": None}
    assert describe_steps(fixed) == "300 Adam steps"
    auto = validate_section("filters", {"steps": "auto", "max_steps": 8000})
    assert budget(auto) == {"steps": 8000, "until": Plateau(window=800, tolerance=0.01, every=200)}
    text = describe_steps(auto, np.array([1200, 1600, 2400]))
    assert "rose by at most 1 % over 10 % of the 8,000-step ceiling" in text
    assert "(median 1,600, most 2,400)" in text
    with pytest.raises(ValueError, match="steps"):
        validate_section("filters", {"steps": "often"})
