#!/usr/bin/perl

# $ci_jobs_key in a location that is no gateway (an edge's): the lookup a
# request names, one for equivalent requests, empty for what a gateway
# would refuse.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Test::More;

my $t = CiJobsTest->new(http => <<'EOF');
    server {
        listen 127.0.0.1:%%PORT%%;

        location /edge/ {
            return 200 "[$ci_jobs_key]";
        }

        location /e {
            return 200 "[$ci_jobs_key]";
        }
    }
EOF

sub key_of { $t->request($_[1] // 'GET', $_[0])->{body} }

is(key_of('/edge/jobs/j1,j2'), '[jobs/j1,j2]', 'an id lookup');
is(key_of('/edge/jobs/j1%2Cj2'), '[jobs/j1,j2]', '%2C as a comma');
is(key_of('/edge/jobs/j2,j1'), '[jobs/j2,j1]', 'the ids in request order');
is(key_of('/edge/workflowexecution/r1'), '[workflowexecution/r1]',
   'a workflow run');
is(key_of('/edge/jobs?tag=Translation&size=5&queueId=q1&nextToken='),
   '[list?queueId=q1&size=5&tag=Translation]',
   'a list: its parameters sorted, an empty optional one left out');
is(key_of('/edge/jobs?queueId=q1&tag=Translation&inputObject=in/a%20b.txt'),
   '[list?inputObject=in%2Fa%20b.txt&queueId=q1&tag=Translation]',
   'a list: values percent-encoded as they are signed');
is(key_of('/e/jobs/j1'), '[jobs/j1]', 'below a prefix without a slash');
is(key_of('/edge/jobs/j1?access_token=abc.def.ghi'), '[jobs/j1]',
   'without the gateway\'s own access_token');

is(key_of('/edge/jobs/j1..x'), '[]', 'empty for a bad id');
is(key_of('/edge/jobs/..%2Fx'), '[]', 'for an encoded slash');
is(key_of('/edge/nosuchapi/j1'), '[]', 'for an unknown API');
is(key_of('/edge/jobs?queueId=q1'), '[]', 'for a list without its tag');
is(key_of('/edge/jobs/j1', 'POST'), '[]', 'for another method');

$t->done;

done_testing;
