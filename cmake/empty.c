/* empty.c — stands in for a library module that has no source yet. */
typedef int rf_empty_translation_unit;
