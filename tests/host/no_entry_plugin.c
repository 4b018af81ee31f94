/* A "plugin" that forgot to export aggf_get_api. */
int aggf_not_the_entry(void);
int aggf_not_the_entry(void) { return 42; }
