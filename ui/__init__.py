"""The Streamlit views of Memory Lab: one module per tab plus shared helpers.

The views stay thin: every number comes from ``model.analysis`` through the
cached wrappers in :mod:`ui.services.analysis_cache`, every chart goes through
:func:`ui.widgets.charts.show_chart` (which insists on a caption), and every view runs
inside :func:`ui.widgets.guard.run_view` so an exception becomes a readable message.
"""
