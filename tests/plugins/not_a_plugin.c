/*  not_a_plugin: a well-formed shared object that is not an orderd plugin:
    it does not define ord_plugin_descriptor, so the host must refuse it
    with "symbol ord_plugin_descriptor: missing". */
int not_a_plugin_answer (void);

int
not_a_plugin_answer (void)
{
    return 42;
}
