"""The digits MLP compressed for the EIE engine: the integer model against the float one,
and a slice of the test set through the generated Verilog."""

import numpy as np
import pytest

from gen.eie_config import eie_preset
from tb.digits import build_model, load_split
from tb.eie_run import run_model

CFG = eie_preset("eie-tiny")


@pytest.fixture(scope="module")
def digits():
    x_train, x_test, y_train, y_test = load_split(0)
    model = build_model(x_train, y_train, pes=CFG.pes, density=(0.5, 0.5),
                        act_width=CFG.act_width, code_width=CFG.code_width)
    return model, x_test, y_test


def test_integer_model_tracks_the_float_one(digits):
    model, x_test, y_test = digits
    float_acc = np.mean(model.predict_float(x_test) == y_test)
    int_acc = np.mean(model.predict_int(x_test) == y_test)
    print(f"float {float_acc:.2%}, integer {int_acc:.2%}")
    assert float_acc > 0.9
    # Half the weights pruned without retraining, 4-bit codebooks: a few points lost.
    assert int_acc > float_acc - 0.1
    # The bias carrier row is a positive constant after layer 1's ReLU and shift.
    hidden = np.asarray(model.layers[0].dense())
    assert hidden[-1, -1] > 0 and np.count_nonzero(hidden[-1]) == 1


@pytest.mark.rtl
def test_digits_on_the_rtl(digits, build_dir):
    model, x_test, y_test = digits
    x = x_test[:40]
    res = run_model(CFG, model.layers, model.inputs(x), relu=model.relu, shift=model.shift,
                    sim="icarus", build_dir=build_dir, seed=1, pressure=0.2)
    assert res.mismatches.size == 0
    assert np.array_equal(np.argmax(res.out, axis=1), model.predict_int(x))
