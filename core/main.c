#include "config.h"
#include "core/version.h"
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("weft %s (module ABI %d)\n", WEFT_VERSION, WEFT_ABI_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: weft COMMAND\n");
    return 2;
}
