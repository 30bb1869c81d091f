/*
 * flinc-operator — the controller of FlinkApplications (operator/).
 */
#include "operator/operator.h"

int main(int argc, char **argv)
{
	return op_main(argc, argv);
}
