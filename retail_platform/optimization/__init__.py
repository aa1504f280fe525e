"""Stock optimisation: from demand forecasts and stock positions to reorder policies, order
recommendations, ABC/XYZ classes, slow movers and anomalies.

Modules:

* ``formulas``        the inventory formulas (safety stock, reorder point, EOQ, order quantity, order-by
                      date), vectorised over numpy arrays and unit-tested against hand-computed cases;
* ``policy``          the optimisation's configuration (service level, order cost, holding rate, ...);
* ``classification``  ABC (revenue share), XYZ (demand variability), slow movers;
* ``anomalies``       sales and stock anomalies judged against the forecast;
* ``recommendations`` input frames (forecasts, stock, suppliers, products, stores) -> recommendation rows;
* ``warehouse``       the SQL that reads the inputs and writes the outputs (used by the DAG).

Where no model forecast is available, the recommendations use ``forecasting.baselines.baseline_forecast``
(moving average with a day-of-week profile). The closed-loop simulation that
follows the recommendations for N days is ``simulation.closed_loop``.
"""
