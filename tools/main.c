/* main.c - the dsv4 program.  Subcommand dispatch and usage live in
 * tools/cli.c so that the tests, which link every tools/ file but this one,
 * can drive the whole program as a function. */
#include "cli.h"

int main(int argc, char **argv) { return dsv4_cli_main(argc, argv, stdout, stderr); }
