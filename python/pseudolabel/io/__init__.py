"""Reading tables and writing files safely: the package's input and output layer.

* :mod:`pseudolabel.io.tables`: the one table reader (CSV / Parquet / ``.npy`` chunks, whole
  tables, content fingerprints);
* :mod:`pseudolabel.io.atomic`: atomic writes, replaces and publishes that honour the umask,
  checksums, pickle detection.
"""
