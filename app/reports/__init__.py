"""The programme-plan report: its data (``schemas``), one document per language
(``document``, ``organisation``) and the renderers (``markdown``, ``html`` with ``svg``
charts, ``tables`` for CSV and XLSX), chosen by ``render``.

Gathering the data is a use case: ``app.services.reports``.
"""
