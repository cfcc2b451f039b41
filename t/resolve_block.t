#!/usr/bin/perl

# An upstream {} block that re-resolves by itself (zone, server ...
# resolve: nginx 1.27.3 and later) as a ci_jobs_pass target: nginx starts
# although the system cannot resolve the name, requests reach the address
# of the DNS server's answer, and the one after it when the answer moves.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use Time::HiRes qw(sleep);
use Test::More;

plan skip_all => 'server ... resolve needs nginx 1.27.3'
    unless CiJobsTest::nginx_at_least('1.27.3');

my $ID = 'jobsSuccess1';

my $t = CiJobsTest->new(
    workers => 2,
    emulators => {
        a => { tls => 'good', address => '127.0.0.2' },
        b => { tls => 'good', address => '127.0.0.3', port_of => 'a' },
    },
    start => 0);

my $host = $CiJobsTest::HOST;

$t->start_dns($host => ['127.0.0.2']);

my $dns = $t->dns_port;

$t->{http} = <<"EOF";
    resolver 127.0.0.1:$dns ipv6=off;
    resolver_timeout 2s;

    upstream ci_resolved {
        zone ci_resolved 64k;
        server %%HOST%%:%%EMU_a%% resolve;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        %%CREDENTIALS%%
        ci_jobs_ssl_trusted_certificate %%CA%%;
        ci_jobs_read_timeout 5s;

        location /block/ {
            ci_jobs on;
            ci_jobs_pass https://ci_resolved;
        }
    }
EOF

$t->start_nginx;

sub answered {
    my ($name) = @_;
    open my $fh, '<', $t->dir . "/emu_$name.jsonl" or return 0;
    my $n = 0;
    $n += tr/\n// while sysread $fh, $_, 65536;
    return $n;
}

# nginx resolves the block's server in each worker after it starts: a
# request may come before that
my $first = CiJobsTest::wait_for(sub {
    $t->get("/block/jobs/$ID")->{status} == 200 }, 10);
ok($first, 'a request through the block: 200');
ok(answered('a') >= 1, 'at the address of the answer');
is(answered('b'), 0, 'not at the other');

$t->dns_answer($host => ['127.0.0.3']);

my (@statuses, $moved);
for (1 .. 200) {
    push @statuses, $t->get("/block/jobs/$ID")->{status};
    last if $moved = answered('b');
    sleep 0.05;
}

ok($moved, 'the answer moves: requests go to the new address');
is(scalar(grep { $_ != 200 } @statuses), 0,
   'every request a 200 through the change');

$t->done;
done_testing;
