"""Pictures of frames (PIL only): sample grids and a cell's worst-frames gallery.

Neutral ground: the worker and `bench rescore` draw the gallery where the test pixels are at hand,
the runner and `bench data samples` draw sample grids, genscore its closest pairs; the report only
shows the files. So neither the pipeline nor the analysis imports the other for a picture.
"""
