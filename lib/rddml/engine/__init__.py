"""The execution engine: where rddml touches Spark, and the only place that does.

A dataset (:class:`~rddml.engine.dataset.Dataset`) holds the model columns of the
input as NumPy blocks and runs *passes* over them: a NumPy function per block, its
partials merged within each partition before anything crosses the network, then
tree-aggregated, reduced by key, or collected as rows. Two backends implement it:
:class:`~rddml.engine.blocks.BlockDataset` over RDDs and
:class:`~rddml.engine.frames.FrameDataset` over DataFrames (``mapInArrow``, what runs
under Spark Connect). How blocks are stored between passes, how parameters travel
(broadcast or inline), row keys for counter-based random draws and the choice of
backend are private to this package; algorithms see only the dataset interface.
"""
