"""Checks the tests of hep-mlbench's Python scripts share: how a refused input must look, and
whether a written JSON file is strict."""
import json


def refused(out, status, prefix, *names):
    """`out` (a finished subprocess.run) was refused as the script refuses bad input: exit
    `status`, its own one-line message starting with `prefix` and naming each of `names`, and no
    Python traceback."""
    assert out.returncode == status and "Traceback" not in out.stderr, out
    assert out.stderr.startswith(prefix), out
    for n in names:
        assert n in out.stderr, (n, out)


def strict(path):
    """The JSON in `path`, refused when it holds NaN or Infinity (not strict JSON)."""
    def no_constant(c):
        raise AssertionError(f"{path} holds {c}: not strict JSON")
    with open(path) as f:
        return json.load(f, parse_constant=no_constant)
