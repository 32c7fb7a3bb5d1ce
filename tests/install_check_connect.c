/* install_check_connect.c - built by `make check-install` against the
 * installed libeventlog-connect through pkg-config only. */
#include <eventlog/connect.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    const evl_connector_type_t *t = evl_connect_file_source();
    if (!t || strcmp(t->name, "FileStreamSource") != 0)
        return 1;
    char **p;
    size_t n;
    if (evl_connect_properties("a=1\n", 4, &p, &n, NULL, 0) || n != 1)
        return 1;
    evl_connect_pairs_free(p, n);
    puts("install_check_connect: ok");
    return 0;
}
