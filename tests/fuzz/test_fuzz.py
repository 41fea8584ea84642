"""A short seeded fuzz run: does any mix of valid and invalid calls break a rule?"""

import pytest

from kmviz import GFP_KERNEL, Kernel

from .harness import Call, Fuzzer, FuzzError


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_seeded_mix_of_good_and_bad_calls_breaks_no_rule(seed):
    fuzzer = Fuzzer(seed)
    for _ in range(800):
        fuzzer.step()


def test_a_seeded_mix_breaks_no_rule_with_every_view_attached():
    fuzzer = Fuzzer(0, views=True)
    for _ in range(150):
        fuzzer.step()


def test_the_fuzzer_notices_an_error_that_leaves_the_machine_changed(monkeypatch):
    def careless_idle(k, seconds):
        k.get_free_pages(GFP_KERNEL, 0)
        raise ValueError("refused, after all")

    monkeypatch.setattr(Kernel, "idle", careless_idle)
    fuzzer = Fuzzer(1)
    while fuzzer.sides[0].kernel.boot_stage != "running":
        fuzzer.step()
    monkeypatch.setattr(fuzzer, "_next_call", lambda: Call("idle", (11,)))
    with pytest.raises(FuzzError, match="but the machine changed"):
        fuzzer.step()
