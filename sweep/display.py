"""How a value is written for a person, in every table babysweep prints or writes as markdown."""
import math
import numbers


def fmt(v, spec=".4g", missing="—") -> str:
    """`v` as a person reads it: `missing` for None or NaN, yes/no for a boolean, integers as integers, other
    numbers by `spec` (4 significant digits by default), anything else as its text."""
    if v is None or (isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral) and math.isnan(v)):
        return missing
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "yes" if v else "no"
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        return format(float(v), spec)
    return str(v)
