"""The gradient-norm explorer redraws on every control; the animation plays without
a kernel."""

from rnncourse.figures import widgets
from rnncourse.figures.widgets import gradient_norm_animation, gradient_norm_explorer


def test_explorer_has_its_three_controls_and_redraws_on_each(monkeypatch):
    drawn = []
    monkeypatch.setattr(
        widgets, "_draw_gradient_norms", lambda ax, *settings: drawn.append(settings)
    )
    box = gradient_norm_explorer(T=20)
    controls, _ = box.children
    radius, function, length = controls.children
    assert (radius.description, function.description, length.description) == (
        "radius",
        "nonlinearity",
        "T",
    )
    assert set(function.options) == {"tanh", "relu"}
    radius.value = 1.3
    function.value = "relu"
    length.value = 30
    assert drawn == [
        (1.0, "tanh", 20),
        (1.3, "tanh", 20),
        (1.3, "relu", 20),
        (1.3, "relu", 30),
    ]


def test_animation_is_html_with_one_frame_per_radius():
    html = gradient_norm_animation(radii=(0.8, 1.0, 1.2), T=10)
    assert "<script" in html and html.count("data:image/png;base64") == 3
    assert (
        '<img alt="Gradient norm against distance for a tanh RNN over 10 steps, one '
        'frame per spectral radius from 0.8 to 1.2" id="_anim_img' in html
    )
