"""Lecture mode: a guided lesson on the live models, one 1280 x 720 screen per step, opened by URL.

page (navigation, URL sync, sidebar) -> steps (one render function per step) -> numbers (cached
calls into model.analysis.lesson) and figures / cell_drawing (pure specs and SVG); wording holds
every computed title (pure, tested directly); url_state checks the link's parameters.
"""
