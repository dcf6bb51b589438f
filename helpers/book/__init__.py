"""The book layer: what only the book needs, on top of the whole package.

Nothing else in :mod:`helpers` imports it. The chapters import its modules
module-qualified (``from helpers.book import examples, report`` …
``examples.RUNNING``):

* :mod:`.examples` — the running example (three short reviews) and the
  stand-in model of the appendix;
* :mod:`.diagram` — where each explanation method reads its signal (SVG);
* :mod:`.recipes` — chapter 2's fine-tuning recipes and the full-data
  benchmark reports, in words;
* :mod:`.report` — chapters 5–6's tables and generated conclusion;
* :mod:`.plots` — chapters 5–6's figures (curves, agreement, sanity check,
  the forest plot of the results, faithfulness against plausibility);
* :mod:`.layer_plots` — chapter 5's per-layer Grad-CAM small multiples;
* :mod:`.recommend` — chapter 6's closing tables and verdict;
* :mod:`.answers` — the book's finding and conclusion, from the numbers;
* :mod:`.overview` — chapter 7's view of the whole test sample;
* :mod:`.train_plots` — chapter 2's training figures;
* :mod:`.attention_figures` — chapter 3's attention figures (where ``[CLS]``
  attends, the heads heat map);
* :mod:`.gradcam_figures` — chapter 4's Grad-CAM figures and generated prose
  (the layers x tokens map, the layer statistics table, the layers'
  agreement);
* :mod:`.long_reviews` — chapter 4's whole-review section in words and a
  figure (scores by position, the cut marked);
* :mod:`.prepare` — the prepare step of ``make book``: what chapters load
  but do not teach (chapter 4's Japanese model), built and cached first.
"""
