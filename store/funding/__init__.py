"""The funding page: the month's costs against donations and the shop's margin."""
