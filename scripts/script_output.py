"""What hep-mlbench's Python scripts share about their outputs.

write_together([(path, text), ...]) writes each text to a temporary name in its file's folder
(`<path>.tmp`) and renames them into place only once every one was written: a failure (a full disk, a folder
that cannot be written) leaves the earlier outputs as they were, with no temporary file and no
mix of new and old outputs. It raises the OSError, whose filename names the file.

nan_to_null(x) turns the non-finite floats in x (nested dicts and lists too) into None, so that
json.dump(..., allow_nan=False) writes strict JSON, which every reader parses.
"""
import math
import os


def write_together(files):
    done = []
    try:
        for path, text in files:
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                done.append(tmp)
                f.write(text)
        for (path, _), tmp in zip(files, done):
            os.replace(tmp, path)
    except OSError:
        for tmp in done:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def nan_to_null(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_null(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_null(v) for v in x]
    return x
