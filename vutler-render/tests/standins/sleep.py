#!/usr/bin/env python3
"""A stand-in for `sleep`: instead of waiting, it advances the virtual clock of the `docker`
stand-in (`model.py`), which is what makes new containers become healthy.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import load, save  # noqa: E402

state = load()
state["clock"] += float(sys.argv[1]) if len(sys.argv) > 1 else 0
save(state)
