-- One database per service: orders and inventory never share tables. Run once, on an empty volume.
CREATE DATABASE orders;
CREATE DATABASE inventory;
