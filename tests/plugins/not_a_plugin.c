/* A shared object without vstor_plugin_init: loading it as a plugin must fail by name. */
int not_a_plugin_answer(void) { return 42; }
