"""Benchmarks: one script per question, each printing the markdown tables the docs quote.

Run them from the repository root as modules (`.venv/bin/python -m benchmarks.speed --help`):

- accuracy        is the drift right on faces the models never saw, and is "reliable" true?
                  (unseen, folds, short, source-sync)
- active_speaker  several faces in view: is the answer the heard face's?
                  (grid, side-by-side, cut, turns, voice-overs, scores)
- speed           time and memory: stage by stage, a cold command, a long recording, a batch
                  (stages, cold, long, batch)
- drift           long offsets, drift that grows, drift that jumps
- export          every container, and a drifting recording exported and read again (matrix, drift)
- training        the paper's Table 1, learning a new speaker, the feature cache (table1, finetune,
                  cache-keys, lazy-cache)

common.py holds what they share: the import path, the data folders, finding clips, the common
options, the table printer and the machine line. Decisions measured once and settled (the face
tracker, landmarks on fewer frames, a distilled landmark model, ONNX Runtime, the pooling, the
cache format) are stated in docs/ and their scripts are in git history (see docs/performance.md).
"""
