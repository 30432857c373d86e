"""Inference: the stage between intake and write-back. Which tasks a report gets (routing), one
report's plan and decided results (report_plan), the worker that runs them in batches, the
CTranslate2 engine, the router that holds one engine per model bundle, and the dry run behind
previews. Import from the modules: this package re-exports nothing, so importing a light part
(a model bundle's manifest) never loads ctranslate2."""
