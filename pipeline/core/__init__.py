"""The domain, pure: the schema's types, the model of a run, issues and their catalogue,
statuses, the calendar, the registry, Vietnamese text and numbers, cell references, the
expression language, and the steps that are pure computation: merge, score, ranking.
Nothing here reads or writes a file."""
